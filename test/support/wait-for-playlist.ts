// Polls an HLS playlist over HTTP until it answers 200 and says what a test waits for: the
// first complete segment, a discontinuity after a republish. Every wait is bounded.

/** Options of waitForPlaylist(). */
export interface WaitForPlaylistOptions {
  readonly timeoutMs: number;
  /** What the playlist text must satisfy; default: any 200 answer. */
  readonly until?: (text: string) => boolean;
  /** Named in the timeout error. */
  readonly what?: string;
}

/** Fetches `url` every 250 ms until it answers 200 with a text `until` accepts; returns that text. */
export async function waitForPlaylist(
  url: string,
  options: WaitForPlaylistOptions,
): Promise<string> {
  const { timeoutMs, until = () => true, what = 'a 200 answer' } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let last: string;
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
      const text = await response.text();
      if (response.status === 200 && until(text)) return text;
      last = response.status === 200 ? `HTTP 200:\n${text}` : `HTTP ${response.status}`;
    } catch (error) {
      last = String(error);
    }
    if (Date.now() > deadline) {
      throw new Error(
        `${url}: timed out after ${timeoutMs} ms waiting for ${what} (last: ${last})`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
