// The environment Thunder's processes have on a Buildroot device: what BusyBox init gives
// everything it starts (init/init.c: putenv HOME=/, bb_PATH_root_path, SHELL=/bin/sh,
// USER=root, where bb_PATH_root_path is "PATH=/sbin:/usr/sbin:/bin:/usr/bin" plus Buildroot's
// empty BB_ADDITIONAL_PATH; Buildroot's inittab and rcS add nothing), and what Thunder exports
// before it starts a plugin host:
//   MESSAGE_DISPATCHER_CONFIG  Messaging::MessageUnit::Settings::Save() (Thunder master,
//       Source/messaging/MessageUnit.h): "<volatilepath>MessageDispatcher|md|<port>|<mode>|<datasize>",
//       not JSON: '|'-separated, identifier "md" (MessageUnit::Open), socket port 0 (a domain
//       socket in the path), mode 1 = BACKGROUND (Thunder started by init runs in the
//       background), data size 20 KiB (Config::DataSize default 20 * 1024).
//   COMMUNICATOR_CONNECTOR     Thunder's COM-RPC socket (PluginServer.h: SetEnvironment(
//       CommunicatorConnector, RPC::Communicator::Connector())), default "/tmp/communicator".
// TERM is left out: init sets it from its console (linux or vt102), which a start here does
// not have. Nothing of the build host's own environment belongs here.

export const BUSYBOX_INIT_PATH = '/sbin:/usr/sbin:/bin:/usr/bin';
export const DEFAULT_COMMUNICATOR = '/tmp/communicator';

export interface ThunderEnvironmentOptions {
  /** Thunder's volatilepath (default /tmp) */
  volatilepath?: string;
  /** Thunder's messaging.path (default MessageDispatcher; a |mode suffix is dropped as Thunder does) */
  messagingPath?: string;
  /** Thunder's communicator socket (default /tmp/communicator; a |mode suffix is dropped) */
  communicator?: string;
}

export function thunderEnvironment(o: ThunderEnvironmentOptions = {}): Record<string, string> {
  const volatile = (o.volatilepath ?? '/tmp').replace(/\/*$/, '/');
  const messaging = (o.messagingPath ?? 'MessageDispatcher').split('|')[0]!;
  return {
    HOME: '/',
    PATH: BUSYBOX_INIT_PATH,
    SHELL: '/bin/sh',
    USER: 'root',
    MESSAGE_DISPATCHER_CONFIG: `${volatile}${messaging}|md|0|1|20480`,
    COMMUNICATOR_CONNECTOR: (o.communicator ?? DEFAULT_COMMUNICATOR).split('|')[0]!,
  };
}

/** Thunder's environment as it is on the device with Thunder's defaults. */
export const THUNDER_ENVIRONMENT: Readonly<Record<string, string>> = Object.freeze(thunderEnvironment());
