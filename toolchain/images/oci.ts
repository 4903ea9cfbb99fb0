// An OCI image layout (oci-layout, index.json, blobs/sha256/…) as one tar, the
// form `ctr images import` reads: one uncompressed layer, its config and its
// manifest, named by the index's io.containerd.image.name annotation.
import { createHash } from "node:crypto";
import { tarArchive, TarEntry } from "./tar";

/** The parts of the OCI image config's `config` object these images set. */
export interface ImageConfig {
  Entrypoint?: string[];
  Cmd?: string[];
  Env: string[];
  User?: string;
  WorkingDir?: string;
  ExposedPorts?: Record<string, object>;
  Volumes?: Record<string, object>;
  StopSignal?: string;
  Labels?: Record<string, string>;
}

export interface OciImage {
  /** the OCI layout tar, as buffers to write in order */
  tar: Buffer[];
  manifestDigest: string;
  layerDigest: string;
  layerSize: number;
}

export function sha256(data: Buffer | Buffer[]): string {
  const h = createHash("sha256");
  for (const b of Array.isArray(data) ? data : [data]) h.update(b);
  return `sha256:${h.digest("hex")}`;
}

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), "utf8");
}

/** Splits "registry/name:tag" into the tag (the OCI ref.name annotation). */
export function refTag(ref: string): string {
  const slash = ref.lastIndexOf("/");
  const colon = ref.lastIndexOf(":");
  return colon > slash ? ref.slice(colon + 1) : "latest";
}

export function ociImage(ref: string, layerEntries: TarEntry[], config: ImageConfig): OciImage {
  const layerParts = tarArchive(layerEntries);
  const layer = Buffer.concat(layerParts);
  const layerDigest = sha256(layer);
  const configBlob = json({
    architecture: "amd64",
    os: "linux",
    config,
    rootfs: { type: "layers", diff_ids: [layerDigest] },
    history: [{ created_by: "pgshift toolchain/images/build.sh", comment: ref }],
  });
  const manifestBlob = json({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha256(configBlob), size: configBlob.length },
    layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: layerDigest, size: layer.length }],
  });
  const manifestDigest = sha256(manifestBlob);
  const index = json({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: [
      {
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        digest: manifestDigest,
        size: manifestBlob.length,
        platform: { architecture: "amd64", os: "linux" },
        annotations: { "io.containerd.image.name": ref, "org.opencontainers.image.ref.name": refTag(ref) },
      },
    ],
  });
  const blob = (digest: string, content: Buffer): TarEntry => ({ type: "file", path: `blobs/sha256/${digest.slice("sha256:".length)}`, mode: 0o644, content });
  const tar = tarArchive([
    { type: "file", path: "oci-layout", mode: 0o644, content: json({ imageLayoutVersion: "1.0.0" }) },
    { type: "file", path: "index.json", mode: 0o644, content: index },
    { type: "dir", path: "blobs", mode: 0o755 },
    { type: "dir", path: "blobs/sha256", mode: 0o755 },
    blob(layerDigest, layer),
    blob(sha256(configBlob), configBlob),
    blob(manifestDigest, manifestBlob),
  ]);
  return { tar, manifestDigest, layerDigest, layerSize: layer.length };
}
