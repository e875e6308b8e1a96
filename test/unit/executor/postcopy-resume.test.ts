import { describe, expect, it } from 'vitest';
import { resumeNotReadyYet } from '../../../src/executor/migrate.js';
import { LibvirtError } from '../../../src/libvirt/index.js';

// 55 is VIR_ERR_OPERATION_INVALID, 9 VIR_ERR_OPERATION_FAILED (virterror.h).
const libvirtError = (code: number, message: string) => new LibvirtError({ code, domain: 10, message, level: 2 });

describe('post-copy resume: is a refusal only "not yet"?', () => {
  it('retries while a QEMU has not reached postcopy-paused (libvirt 9.0 words, seen in the lab)', () => {
    expect(resumeNotReadyYet(libvirtError(55, 'Requested operation is not valid: QEMU reports migration is still running'))).toBe(true);
    expect(resumeNotReadyYet(libvirtError(55, 'Requested operation is not valid: post-copy migration of domain vm1 has not failed'))).toBe(true);
  });
  it('gives up on anything else', () => {
    expect(resumeNotReadyYet(libvirtError(55, 'Requested operation is not valid: migration of domain vm1 is not in post-copy phase'))).toBe(false);
    expect(resumeNotReadyYet(libvirtError(9, "operation failed: job 'migration in' failed in post-copy phase"))).toBe(false);
    expect(resumeNotReadyYet(new Error('QEMU reports migration is still running'))).toBe(false);
  });
});
