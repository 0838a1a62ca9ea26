// Which live streams are renditions of which: the ones an encoder sends itself (enhanced RTMP
// multitrack), registered while they are published. The multivariant HLS playlist lists them,
// and a rendition of a private stream is private. (ABR ladders made by ffmpeg are known from
// the configuration, in transcode/abr-ladder.ts.)

/** Renditions per source, bounded by the publishers that register them. */
export class RenditionRegistry {
  readonly #sourceOf = new Map<string, string>();
  readonly #renditions = new Map<string, string[]>();

  /** `path` is a rendition of `source` from now on (until removed). */
  add(source: string, path: string): void {
    if (this.#sourceOf.has(path)) this.remove(path);
    this.#sourceOf.set(path, source);
    const list = this.#renditions.get(source) ?? [];
    list.push(path);
    this.#renditions.set(source, list);
  }

  /** `path` is no longer a rendition. */
  remove(path: string): void {
    const source = this.#sourceOf.get(path);
    if (source === undefined) return;
    this.#sourceOf.delete(path);
    const list = (this.#renditions.get(source) ?? []).filter((other) => other !== path);
    if (list.length === 0) this.#renditions.delete(source);
    else this.#renditions.set(source, list);
  }

  /** The source of rendition `path`, or null. */
  sourceOf(path: string): string | null {
    return this.#sourceOf.get(path) ?? null;
  }

  /** The renditions of `source`, in the order they were registered. */
  renditionsOf(source: string): readonly string[] {
    return this.#renditions.get(source) ?? [];
  }
}
