// Errors the local cluster raises: each names the component that failed and
// where its log is, so the person running it knows where to look next.
export class ClusterError extends Error {
  constructor(
    message: string,
    public readonly component?: string,
    public readonly log?: string,
  ) {
    super(message);
    this.name = "ClusterError";
  }
}

/** The node needs root (containerd, network interfaces, iptables, mounts). */
export class NotRootError extends ClusterError {
  constructor(what: string) {
    super(
      `${what} needs root: the node creates network interfaces, iptables rules and mounts. Run it as root (e.g. sudo npm run cluster -- up), or use the control plane alone (no pods run).`,
    );
    this.name = "NotRootError";
  }
}
