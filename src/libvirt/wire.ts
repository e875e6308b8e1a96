/** Encoders and decoders for the remote program's shared structures. */
import { TypedParamType } from './constants.js';
import { LibvirtError } from './errors.js';
import { STRING_MAX_BYTES } from './protocol.js';
import { XdrError, type XdrReader, type XdrWriter } from './xdr.js';

export interface DomainRef {
  name: string;
  /** Canonical form: 8-4-4-4-12 lowercase hex. */
  uuid: string;
  /** -1 when the domain is not running. */
  id: number;
}

export type TypedParamValue = number | bigint | boolean | string;
/** Typed parameters by field name: int/uint/double -> number, llong/ullong -> bigint. */
export type TypedParams = Record<string, TypedParamValue>;

/** One typed parameter with its wire type, for building calls where the type matters. */
export interface TypedParam {
  field: string;
  type: (typeof TypedParamType)[keyof typeof TypedParamType];
  value: TypedParamValue;
}

export function uuidToBytes(uuid: string): Buffer {
  const hex = uuid.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new TypeError(`"${uuid}" is not a UUID (expected 32 hex digits, dashes optional)`);
  return Buffer.from(hex, 'hex');
}

export function bytesToUuid(bytes: Buffer): string {
  const h = bytes.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function writeDomain(w: XdrWriter, d: DomainRef): void {
  w.string(d.name).fixedOpaque(uuidToBytes(d.uuid)).int(d.id);
}

export function readDomain(r: XdrReader): DomainRef {
  const name = r.string(STRING_MAX_BYTES);
  const uuid = bytesToUuid(r.fixedOpaque(16));
  const id = r.int();
  return { name, uuid, id };
}

/**
 * `remote_typed_param params<maxItems>`; `maxItems` is the bound the procedure's struct gives in
 * remote_protocol.x (e.g. REMOTE_DOMAIN_MIGRATE_PARAM_LIST_MAX).
 * @throws RangeError when there are more parameters than that.
 */
export function writeTypedParams(w: XdrWriter, params: readonly TypedParam[], maxItems: number): void {
  w.array(params, maxItems, (_, p) => {
    w.string(p.field).int(p.type);
    switch (p.type) {
      case TypedParamType.INT:
        w.int(Number(p.value));
        break;
      case TypedParamType.UINT:
        w.uint(Number(p.value));
        break;
      case TypedParamType.LLONG:
        w.hyper(BigInt(p.value as number | bigint));
        break;
      case TypedParamType.ULLONG:
        w.uhyper(BigInt(p.value as number | bigint));
        break;
      case TypedParamType.DOUBLE:
        w.double(Number(p.value));
        break;
      case TypedParamType.BOOLEAN:
        w.int(p.value ? 1 : 0);
        break;
      case TypedParamType.STRING:
        w.string(String(p.value));
        break;
      default:
        throw new TypeError(`typed parameter ${p.field}: unknown type ${p.type as number}`);
    }
  });
}

/**
 * `remote_typed_param params<maxItems>`, with the bound the reply's struct gives in
 * remote_protocol.x (REMOTE_DOMAIN_JOB_STATS_MAX for job stats, REMOTE_CONNECT_GET_ALL_DOMAIN_STATS_MAX
 * per stats record, ...): a peer sending more is refused with an XdrError, never read.
 */
export function readTypedParamList(r: XdrReader, maxItems: number): TypedParam[] {
  return r.array(maxItems, () => {
    const field = r.string(STRING_MAX_BYTES);
    const type = r.int();
    let value: TypedParamValue;
    switch (type) {
      case TypedParamType.INT:
        value = r.int();
        break;
      case TypedParamType.UINT:
        value = r.uint();
        break;
      case TypedParamType.LLONG:
        value = r.hyper();
        break;
      case TypedParamType.ULLONG:
        value = r.uhyper();
        break;
      case TypedParamType.DOUBLE:
        value = r.double();
        break;
      case TypedParamType.BOOLEAN:
        value = r.int() !== 0;
        break;
      case TypedParamType.STRING:
        value = r.string(STRING_MAX_BYTES);
        break;
      default:
        throw new XdrError(`typed parameter ${field}: unknown type ${type}`);
    }
    return { field, type: type as TypedParam['type'], value };
  });
}

/**
 * A numeric typed parameter as a JavaScript number (LLONG/ULLONG arrive as bigint; counters in
 * bytes and nanoseconds stay exact below 2^53), or undefined when absent or not numeric.
 */
export function typedParamNumber(params: TypedParams, key: string): number | undefined {
  const v = params[key];
  return typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : undefined;
}

/** A numeric typed parameter as a bigint (for counters whose deltas need every bit), or undefined. */
export function typedParamBigInt(params: TypedParams, key: string): bigint | undefined {
  const v = params[key];
  return typeof v === 'bigint' ? v : typeof v === 'number' ? BigInt(Math.round(v)) : undefined;
}

/** readTypedParamList as a record by field name; `maxItems` as there. */
export function readTypedParams(r: XdrReader, maxItems: number): TypedParams {
  const out: TypedParams = {};
  for (const p of readTypedParamList(r, maxItems)) out[p.field] = p.value;
  return out;
}

/** remote_error: code, domain, message, level, dom, str1..3, int1, int2, net. */
export function readRemoteError(r: XdrReader): LibvirtError {
  const code = r.int();
  const domain = r.int();
  const message = r.optionalString(STRING_MAX_BYTES) ?? '';
  const level = r.int();
  if (r.bool()) readDomain(r);
  r.optionalString(STRING_MAX_BYTES);
  r.optionalString(STRING_MAX_BYTES);
  r.optionalString(STRING_MAX_BYTES);
  r.int();
  r.int();
  if (r.bool()) {
    r.string(STRING_MAX_BYTES);
    r.fixedOpaque(16);
  }
  return new LibvirtError({ code, domain, message, level });
}
