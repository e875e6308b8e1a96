/**
 * Our names for the remote program's shared structures and the conversions to and from their wire
 * forms (the codecs are generated from remote_protocol.x into generated/codecs.ts): DomainRef with
 * a text UUID for remote_nonnull_domain, TypedParam / TypedParams for remote_typed_param lists,
 * LibvirtError for remote_error.
 */
import { TypedParamType } from './constants.js';
import { LibvirtError } from './errors.js';
import {
  decodeRemoteNonnullDomain,
  decodeRemoteTypedParam,
  decodeVirNetMessageError,
  encodeRemoteNonnullDomain,
  encodeRemoteTypedParam,
  type RemoteNonnullDomain,
  type RemoteTypedParam,
  type RemoteTypedParamValue,
  type VirNetMessageError,
} from './generated/codecs.js';
import type { XdrReader, XdrWriter } from './xdr.js';

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

/** A domain as the wire carries it (remote_nonnull_domain), from our DomainRef. */
export function domainToWire(d: DomainRef): RemoteNonnullDomain {
  return { name: d.name, uuid: uuidToBytes(d.uuid), id: d.id };
}

/** A remote_nonnull_domain as a DomainRef (the UUID in its canonical text form). */
export function domainFromWire(d: RemoteNonnullDomain): DomainRef {
  return { name: d.name, uuid: bytesToUuid(d.uuid), id: d.id };
}

export function writeDomain(w: XdrWriter, d: DomainRef): void {
  encodeRemoteNonnullDomain(w, domainToWire(d));
}

export function readDomain(r: XdrReader): DomainRef {
  return domainFromWire(decodeRemoteNonnullDomain(r));
}

/**
 * A TypedParam as remote_typed_param: the value converted to the arm its type selects (BOOLEAN
 * travels as an int, 0 or 1).
 * @throws TypeError for a type that is not a virTypedParameterType.
 */
export function typedParamToWire(p: TypedParam): RemoteTypedParam {
  switch (p.type) {
    case TypedParamType.INT:
      return { field: p.field, value: { type: p.type, i: Number(p.value) } };
    case TypedParamType.UINT:
      return { field: p.field, value: { type: p.type, ui: Number(p.value) } };
    case TypedParamType.LLONG:
      return { field: p.field, value: { type: p.type, l: BigInt(p.value as number | bigint) } };
    case TypedParamType.ULLONG:
      return { field: p.field, value: { type: p.type, ul: BigInt(p.value as number | bigint) } };
    case TypedParamType.DOUBLE:
      return { field: p.field, value: { type: p.type, d: Number(p.value) } };
    case TypedParamType.BOOLEAN:
      return { field: p.field, value: { type: p.type, b: p.value ? 1 : 0 } };
    case TypedParamType.STRING:
      return { field: p.field, value: { type: p.type, s: String(p.value) } };
    default:
      throw new TypeError(`typed parameter ${p.field}: unknown type ${p.type as number}`);
  }
}

/** The value of a remote_typed_param_value: int/uint/double -> number, llong/ullong -> bigint, boolean (any non-zero int) -> true. */
function typedParamValue(v: RemoteTypedParamValue): TypedParamValue {
  switch (v.type) {
    case 1:
      return v.i;
    case 2:
      return v.ui;
    case 3:
      return v.l;
    case 4:
      return v.ul;
    case 5:
      return v.d;
    case 6:
      return v.b !== 0;
    case 7:
      return v.s;
  }
}

/** A remote_typed_param as a TypedParam (values as typedParamValue gives them). */
export function typedParamFromWire({ field, value }: RemoteTypedParam): TypedParam {
  return { field, type: value.type, value: typedParamValue(value) };
}

/** remote_typed_param lists as a record by field name (the last of a repeated name wins). */
export function typedParamsRecord(params: readonly RemoteTypedParam[]): TypedParams {
  const out: TypedParams = {};
  for (const p of params) out[p.field] = typedParamValue(p.value);
  return out;
}

/**
 * `remote_typed_param params<maxItems>`; `maxItems` is the bound the procedure's struct gives in
 * remote_protocol.x (e.g. REMOTE_DOMAIN_MIGRATE_PARAM_LIST_MAX). For fakes and tests: the
 * procedures' own codecs (generated/codecs.ts) write their lists.
 * @throws RangeError when there are more parameters than that.
 */
export function writeTypedParams(w: XdrWriter, params: readonly TypedParam[], maxItems: number): void {
  w.array(params, maxItems, (_, p) => encodeRemoteTypedParam(w, typedParamToWire(p)));
}

/**
 * `remote_typed_param params<maxItems>`, with the bound the reply's struct gives in
 * remote_protocol.x: a peer sending more is refused with an XdrError, never read.
 */
export function readTypedParamList(r: XdrReader, maxItems: number): TypedParam[] {
  return r.array(maxItems, () => typedParamFromWire(decodeRemoteTypedParam(r)));
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

/** The LibvirtError a remote_error (virNetMessageError) body describes. */
export function errorFromWire(e: VirNetMessageError): LibvirtError {
  return new LibvirtError({ code: e.code, domain: e.domain, message: e.message ?? '', level: e.level });
}

/** remote_error: code, domain, message, level, dom, str1..3, int1, int2, net. */
export function readRemoteError(r: XdrReader): LibvirtError {
  return errorFromWire(decodeVirNetMessageError(r));
}
