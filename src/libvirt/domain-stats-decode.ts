/**
 * remote_connect_get_all_domain_stats_ret (remote_protocol.x: `remote_domain_stats_record
 * retStats<REMOTE_DOMAIN_LIST_MAX>`, each a remote_nonnull_domain and `remote_typed_param
 * params<REMOTE_CONNECT_GET_ALL_DOMAIN_STATS_MAX>`) decoded straight into DomainStatsRecords: each
 * parameter's name, type and value are read from the reply and stored in the record, with no
 * remote_typed_param object, no value union object and no Buffer slice between. Parameter names
 * repeat in every record and every reply, so they come from a table of names already seen
 * (xdr-intern.ts) and cost no allocation.
 *
 * The result is exactly what the generated decoder (generated/codecs.ts) followed by
 * domainFromWire and typedParamsRecord gives, and a malformed reply fails with the same
 * XdrError (test/unit/libvirt/domain-stats-decode.test.ts proves both on recorded replies and
 * generated ones).
 *
 * Why: at 10,000 hosts x 30 VMs the generic path made six objects per parameter (~5 million
 * parameters a tick); decoding them was a quarter of a collection tick's CPU and their garbage
 * most of another fifth (bench/collect-scale.ts; the profiles: bench/results/history/analyses-2026-12.md).
 */
import { TypedParamType } from './constants.js';
import * as limits from './generated/protocol.js';
import type { DomainRef, TypedParams, TypedParamValue } from './wire.js';
import { ByteStringTable, type BytesToString, type TableEntry } from './xdr-intern.js';
import { XdrError, type XdrReader } from './xdr.js';

/** One domain's stats: its reference and its typed parameters by name (the last of a repeated name wins). */
export interface DomainStatsRecord {
  domain: DomainRef;
  params: TypedParams;
}

// remote_protocol.x's bounds, read once: an imported binding may be a getter per access (tsx's module transform).
const REMOTE_STRING_MAX = limits.REMOTE_STRING_MAX;
const REMOTE_DOMAIN_LIST_MAX = limits.REMOTE_DOMAIN_LIST_MAX;
const REMOTE_CONNECT_GET_ALL_DOMAIN_STATS_MAX = limits.REMOTE_CONNECT_GET_ALL_DOMAIN_STATS_MAX;
const { INT, UINT, LLONG, ULLONG, DOUBLE, BOOLEAN, STRING } = TypedParamType;

/** Parameter names of every connection's replies, kept once (a few hundred distinct ones in practice; bounded). */
const paramNames = new ByteStringTable();
/** The name before the one being read in this record (decoding is synchronous: one record at a time). */
let previousName: TableEntry = paramNames.start;
/** Records list their names in the same order: the table checks the name that followed last time first. */
const paramName: BytesToString = (buffer, start, end) => {
  previousName = paramNames.after(previousName, buffer, start, end);
  return previousName.text;
};

/** `wanted`'s verdict on the name just read, asked once per name and function. */
function isWanted(entry: TableEntry, wanted: (name: string) => boolean): boolean {
  if (entry.judgedBy !== wanted) {
    // A name the table did not keep is a fresh entry each time: asked each time.
    entry.judgedBy = wanted;
    entry.judged = wanted(entry.text);
  }
  return entry.judged!;
}

/** Lowercase hex digits as character codes. */
const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');
/** The 36 characters of a UUID's text, written here and copied out as one flat string. */
const uuidChars = Buffer.alloc(36);

/**
 * A UUID's 16 bytes as its canonical text (8-4-4-4-12 lowercase hex), as bytesToUuid (wire.ts)
 * gives it, built as one string: the hex-then-slices form made ten strings a VM a tick, and the
 * collector's maps would flatten the result again.
 */
const uuidText: BytesToString = (buffer, start) => {
  let at = 0;
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) uuidChars[at++] = 0x2d;
    const byte = buffer[start + i];
    uuidChars[at++] = HEX_DIGITS[byte >> 4];
    uuidChars[at++] = HEX_DIGITS[byte & 15];
  }
  return uuidChars.toString('latin1', 0, 36);
};

/** The remote_nonnull_domain at the reader's position as a DomainRef. */
function readDomainRef(r: XdrReader): DomainRef {
  const name = r.string(REMOTE_STRING_MAX, 'remote_nonnull_domain.name');
  const uuid = r.fixedOpaqueWith(16, uuidText);
  return { name, uuid, id: r.int() };
}

/** Pass over a remote_typed_param_value with the checks and errors readValue makes, making no value. */
function skipValue(r: XdrReader): void {
  const type = r.int();
  switch (type) {
    case INT:
    case BOOLEAN:
      r.skip(4, 'int');
      break;
    case UINT:
      r.skip(4, 'unsigned int');
      break;
    case LLONG:
      r.skip(8, 'hyper');
      break;
    case ULLONG:
      r.skip(8, 'unsigned hyper');
      break;
    case DOUBLE:
      r.skip(8, 'double');
      break;
    case STRING:
      r.skipString(REMOTE_STRING_MAX, 'remote_typed_param_value.s');
      break;
    default:
      throw new XdrError(`remote_typed_param_value: type ${type} is none of its cases (1, 2, 3, 4, 5, 6, 7)`);
  }
}

/** A remote_typed_param_value as typedParamValue (wire.ts) gives it: int/uint/double -> number, llong/ullong -> bigint, boolean -> true for any non-zero int. */
function readValue(r: XdrReader): TypedParamValue {
  const type = r.int();
  switch (type) {
    case INT:
      return r.int();
    case UINT:
      return r.uint();
    case LLONG:
      return r.hyper();
    case ULLONG:
      return r.uhyper();
    case DOUBLE:
      return r.double();
    case BOOLEAN:
      return r.int() !== 0;
    case STRING:
      return r.string(REMOTE_STRING_MAX, 'remote_typed_param_value.s');
    default:
      throw new XdrError(`remote_typed_param_value: type ${type} is none of its cases (1, 2, 3, 4, 5, 6, 7)`);
  }
}

/**
 * A remote_connect_get_all_domain_stats_ret body as DomainStatsRecords. `wanted` (optional) keeps
 * only the parameters whose name it accepts: the others are checked and passed over, no value
 * made (a caller reading 13 of a VM's ~40 parameters saves most of the decoding and its garbage).
 * Its verdict is cached per name, so it must answer the same for a name every time.
 * @throws XdrError for a reply that does not decode (the generated decoder's message), e.g. more
 * records or parameters than remote_protocol.x allows, a string over REMOTE_STRING_MAX, an
 * unknown value type, a truncated body; the same whether a value is kept or passed over.
 */
export function decodeAllDomainStatsRet(r: XdrReader, wanted?: (name: string) => boolean): DomainStatsRecord[] {
  const count = r.arrayLength(REMOTE_DOMAIN_LIST_MAX, 'remote_connect_get_all_domain_stats_ret.retStats');
  const records: DomainStatsRecord[] = [];
  for (let i = 0; i < count; i++) {
    const domain = readDomainRef(r);
    const n = r.arrayLength(REMOTE_CONNECT_GET_ALL_DOMAIN_STATS_MAX, 'remote_domain_stats_record.params');
    const params: TypedParams = {};
    previousName = paramNames.start;
    for (let j = 0; j < n; j++) {
      const field = r.stringWith(REMOTE_STRING_MAX, paramName, 'remote_typed_param.field');
      if (wanted !== undefined && !isWanted(previousName, wanted)) skipValue(r);
      else params[field] = readValue(r);
    }
    records.push({ domain, params });
  }
  return records;
}
