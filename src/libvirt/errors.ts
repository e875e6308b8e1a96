/** Errors the client raises: libvirt's own (with code and domain names) and connection failures. */

// virErrorNumber, in order from 0 (include/libvirt/virterror.h). Names without the VIR_ prefix.
const ERROR_CODE_NAMES = (
  'ERR_OK ERR_INTERNAL_ERROR ERR_NO_MEMORY ERR_NO_SUPPORT ERR_UNKNOWN_HOST ERR_NO_CONNECT ERR_INVALID_CONN ' +
  'ERR_INVALID_DOMAIN ERR_INVALID_ARG ERR_OPERATION_FAILED ERR_GET_FAILED ERR_POST_FAILED ERR_HTTP_ERROR ' +
  'ERR_SEXPR_SERIAL ERR_NO_XEN ERR_XEN_CALL ERR_OS_TYPE ERR_NO_KERNEL ERR_NO_ROOT ERR_NO_SOURCE ERR_NO_TARGET ' +
  'ERR_NO_NAME ERR_NO_OS ERR_NO_DEVICE ERR_NO_XENSTORE ERR_DRIVER_FULL ERR_CALL_FAILED ERR_XML_ERROR ERR_DOM_EXIST ' +
  'ERR_OPERATION_DENIED ERR_OPEN_FAILED ERR_READ_FAILED ERR_PARSE_FAILED ERR_CONF_SYNTAX ERR_WRITE_FAILED ' +
  'ERR_XML_DETAIL ERR_INVALID_NETWORK ERR_NETWORK_EXIST ERR_SYSTEM_ERROR ERR_RPC ERR_GNUTLS_ERROR WAR_NO_NETWORK ' +
  'ERR_NO_DOMAIN ERR_NO_NETWORK ERR_INVALID_MAC ERR_AUTH_FAILED ERR_INVALID_STORAGE_POOL ERR_INVALID_STORAGE_VOL ' +
  'WAR_NO_STORAGE ERR_NO_STORAGE_POOL ERR_NO_STORAGE_VOL WAR_NO_NODE ERR_INVALID_NODE_DEVICE ERR_NO_NODE_DEVICE ' +
  'ERR_NO_SECURITY_MODEL ERR_OPERATION_INVALID WAR_NO_INTERFACE ERR_NO_INTERFACE ERR_INVALID_INTERFACE ' +
  'ERR_MULTIPLE_INTERFACES WAR_NO_NWFILTER ERR_INVALID_NWFILTER ERR_NO_NWFILTER ERR_BUILD_FIREWALL WAR_NO_SECRET ' +
  'ERR_INVALID_SECRET ERR_NO_SECRET ERR_CONFIG_UNSUPPORTED ERR_OPERATION_TIMEOUT ERR_MIGRATE_PERSIST_FAILED ' +
  'ERR_HOOK_SCRIPT_FAILED ERR_INVALID_DOMAIN_SNAPSHOT ERR_NO_DOMAIN_SNAPSHOT ERR_INVALID_STREAM ' +
  'ERR_ARGUMENT_UNSUPPORTED ERR_STORAGE_PROBE_FAILED ERR_STORAGE_POOL_BUILT ERR_SNAPSHOT_REVERT_RISKY ' +
  'ERR_OPERATION_ABORTED ERR_AUTH_CANCELLED ERR_NO_DOMAIN_METADATA ERR_MIGRATE_UNSAFE ERR_OVERFLOW ' +
  'ERR_BLOCK_COPY_ACTIVE ERR_OPERATION_UNSUPPORTED ERR_SSH ERR_AGENT_UNRESPONSIVE ERR_RESOURCE_BUSY ' +
  'ERR_ACCESS_DENIED ERR_DBUS_SERVICE ERR_STORAGE_VOL_EXIST ERR_CPU_INCOMPATIBLE ERR_XML_INVALID_SCHEMA ' +
  'ERR_MIGRATE_FINISH_OK ERR_AUTH_UNAVAILABLE ERR_NO_SERVER ERR_NO_CLIENT ERR_AGENT_UNSYNCED ERR_LIBSSH ' +
  'ERR_DEVICE_MISSING ERR_INVALID_NWFILTER_BINDING ERR_NO_NWFILTER_BINDING ERR_INVALID_DOMAIN_CHECKPOINT ' +
  'ERR_NO_DOMAIN_CHECKPOINT ERR_NO_DOMAIN_BACKUP ERR_INVALID_NETWORK_PORT ERR_NETWORK_PORT_EXIST ' +
  'ERR_NO_NETWORK_PORT ERR_NO_HOSTNAME ERR_CHECKPOINT_INCONSISTENT ERR_MULTIPLE_DOMAINS ERR_NO_NETWORK_METADATA ' +
  'ERR_AGENT_COMMAND_TIMEOUT ERR_AGENT_COMMAND_FAILED'
).split(' ');

// virErrorDomain, in order from 0.
const ERROR_DOMAIN_NAMES = (
  'NONE XEN XEND XENSTORE SEXPR XML DOM RPC PROXY CONF QEMU NET TEST REMOTE OPENVZ XENXM STATS_LINUX LXC STORAGE ' +
  'NETWORK DOMAIN UML NODEDEV XEN_INOTIFY SECURITY VBOX INTERFACE ONE ESX PHYP SECRET CPU XENAPI NWFILTER HOOK ' +
  'DOMAIN_SNAPSHOT AUDIT SYSINFO STREAMS VMWARE EVENT LIBXL LOCKING HYPERV CAPABILITIES URI AUTH DBUS PARALLELS ' +
  'DEVICE SSH LOCKSPACE INITCTL IDENTITY CGROUP ACCESS SYSTEMD BHYVE CRYPTO FIREWALL POLKIT THREAD ADMIN LOGGING ' +
  'XENXL PERF LIBSSH RESCTRL FIREWALLD DOMAIN_CHECKPOINT TPM BPF CH'
).split(' ');

export function errorCodeName(code: number): string {
  const name = ERROR_CODE_NAMES[code];
  return name ? `VIR_${name}` : `VIR_ERR_UNKNOWN_${code}`;
}

export function errorDomainName(domain: number): string {
  const name = ERROR_DOMAIN_NAMES[domain];
  return name ? `VIR_FROM_${name}` : `VIR_FROM_UNKNOWN_${domain}`;
}

/** Well-known codes callers branch on. */
export const ErrorCode = {
  OPERATION_FAILED: 9,
  NO_DOMAIN: 42,
  OPERATION_INVALID: 55,
  OPERATION_TIMEOUT: 68,
  OPERATION_ABORTED: 78,
  NO_DOMAIN_METADATA: 80,
  OPERATION_UNSUPPORTED: 84,
  RPC: 39,
  NO_SUPPORT: 3,
  AUTH_FAILED: 45,
} as const;

/** An error libvirt returned (remote_error), with its numeric code and names. */
export class LibvirtError extends Error {
  readonly code: number;
  readonly codeName: string;
  readonly domain: number;
  readonly domainName: string;
  readonly level: number;

  constructor(fields: { code: number; domain: number; message: string; level: number }) {
    super(fields.message || errorCodeName(fields.code));
    this.name = 'LibvirtError';
    this.code = fields.code;
    this.codeName = errorCodeName(fields.code);
    this.domain = fields.domain;
    this.domainName = errorDomainName(fields.domain);
    this.level = fields.level;
  }
}

/** The connection is gone (peer closed, keepalive timeout, protocol error, or close()). */
export class ConnectionClosedError extends Error {
  constructor(
    message: string,
    readonly uri?: string,
  ) {
    super(message);
    this.name = 'ConnectionClosedError';
  }
}

/** A URI or option the client cannot use, with what is wrong and what would work. */
export class LibvirtUriError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LibvirtUriError';
  }
}

/** A server asks for an authentication scheme this client does not speak. */
export class LibvirtAuthError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LibvirtAuthError';
  }
}
