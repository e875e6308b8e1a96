/**
 * config/ is a leaf folder, so it checks a libvirt URI's shape itself (the libvirt client has its
 * own full parser and says the same things when connecting).
 */
const transports = new Set(['', 'unix', 'tcp', 'tls', 'ssh', 'libssh', 'libssh2']);

export function parseLibvirtUriForConfig(uri: string): string | undefined {
  const match = /^([a-z0-9]+)(?:\+([a-z0-9]+))?:\/\/([^/?]*)(\/[^?]*)?(\?.*)?$/i.exec(uri);
  if (!match) return `"${uri}" is not a libvirt URI; expected e.g. qemu:///system or qemu+tcp://10.0.0.5/system`;
  const [, driver, transport = '', , path] = match;
  if (!['qemu', 'test'].includes(driver.toLowerCase())) return `driver "${driver}" is not supported; virt-balancer balances qemu hosts (qemu://, qemu+tcp://, ...)`;
  if (!transports.has(transport.toLowerCase())) return `transport "${transport}" is not one of unix, tcp, tls, ssh`;
  if (!path || path === '/') return `"${uri}" has no path; add /system (e.g. ${uri.replace(/\/?$/, '/system')})`;
  return undefined;
}
