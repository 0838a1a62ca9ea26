// Test harness: an in-page WHEP client for Chromium (page.evaluate of the script returned): a
// recvonly offer for video and audio POSTed to `url`, the answer applied (edited first when the
// test asks), the tracks played muted in a <video>. Its state goes to window.whep: status,
// location, error, the answer as applied, the H.264 payload type the answer chose, and pc.
// Also an in-page WHIP publisher of the fake camera (whipPublishScript, publishWhip).

import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { waitForPage } from './chromium.ts';

export interface WhepClientOptions {
  /** Sent as `Authorization: Bearer` (a private stream's play token). */
  readonly token?: string;
  /** A JavaScript expression over `answer` (the SDP onair sent) giving the SDP to apply. */
  readonly editAnswer?: string;
}

/** See the file comment. */
export function whepClientScript(url: string, options: WhepClientOptions = {}): string {
  const headers: Record<string, string> = { 'Content-Type': 'application/sdp' };
  if (options.token !== undefined) headers.Authorization = `Bearer ${options.token}`;
  return `(async () => {
    window.whep = { status: 0, location: null, error: null, answer: null, videoPt: null };
    try {
      const pc = new RTCPeerConnection();
      pc.addTransceiver('video', { direction: 'recvonly' });
      pc.addTransceiver('audio', { direction: 'recvonly' });
      const video = document.createElement('video');
      video.muted = true;
      video.autoplay = true;
      video.playsInline = true;
      document.body.prepend(video);
      pc.ontrack = (event) => {
        video.srcObject ??= new MediaStream();
        video.srcObject.addTrack(event.track);
      };
      await pc.setLocalDescription(await pc.createOffer());
      const response = await fetch(${JSON.stringify(url)}, {
        method: 'POST', headers: ${JSON.stringify(headers)}, body: pc.localDescription.sdp,
      });
      window.whep.status = response.status;
      window.whep.location = response.headers.get('Location');
      const answer = await response.text();
      if (response.status !== 201) { window.whep.error = answer; return; }
      const h264 = /a=rtpmap:(\\d+) H264\\/90000/.exec(answer);
      window.whep.videoPt = h264 ? Number(h264[1]) : null;
      const sdp = ${options.editAnswer ?? 'answer'};
      window.whep.answer = sdp;
      await pc.setRemoteDescription({ type: 'answer', sdp });
      window.whep.pc = pc;
    } catch (error) {
      window.whep.error = String(error);
    }
  })()`;
}

/**
 * Runs in the page: Chromium's 640x360 fake camera (and microphone, with `audio`) published over
 * WHIP to `url` with Bearer `key`; with `onlyVideo` (a mime type such as `video/AV1`) the video
 * codec is limited to it (setCodecPreferences). State in window.whip: status, location, error,
 * offer, `codec` (the browser can send the codec asked for), pc; whepStatus and whepBody are
 * left to the test.
 */
export function whipPublishScript(
  url: string,
  key: string,
  options: { readonly onlyVideo?: string; readonly audio?: boolean } = {},
): string {
  const wanted = JSON.stringify(options.onlyVideo?.toLowerCase() ?? null);
  return `(async () => {
    window.whip = { status: 0, location: null, error: null, offer: null, codec: false, whepStatus: 0, whepBody: '' };
    try {
      const wanted = ${wanted};
      const codecs = (RTCRtpSender.getCapabilities('video')?.codecs ?? [])
        .filter((c) => wanted === null || c.mimeType.toLowerCase() === wanted);
      window.whip.codec = codecs.length > 0;
      if (codecs.length === 0) { window.whip.error = 'no ' + wanted + ' in RTCRtpSender.getCapabilities'; return; }
      const media = await navigator.mediaDevices.getUserMedia({
        video: { width: 640, height: 360, frameRate: 25 },
        audio: ${String(options.audio === true)},
      });
      const pc = new RTCPeerConnection();
      for (const track of media.getTracks()) {
        const transceiver = pc.addTransceiver(track, { direction: 'sendonly' });
        if (wanted !== null && track.kind === 'video') transceiver.setCodecPreferences(codecs);
      }
      await pc.setLocalDescription(await pc.createOffer());
      window.whip.offer = pc.localDescription.sdp;
      const response = await fetch(${JSON.stringify(url)}, {
        method: 'POST',
        headers: { 'Content-Type': 'application/sdp', Authorization: ${JSON.stringify(`Bearer ${key}`)} },
        body: pc.localDescription.sdp,
      });
      window.whip.status = response.status;
      window.whip.location = response.headers.get('Location');
      const body = await response.text();
      if (response.status !== 201) { window.whip.error = body; return; }
      await pc.setRemoteDescription({ type: 'answer', sdp: body });
      window.whip.pc = pc;
    } catch (error) {
      window.whip.error = String(error);
    }
  })()`;
}

/** What a test reads of window.whip after whipPublishScript (WHIP_STATE). */
export interface WhipState {
  status: number;
  location: string | null;
  error: string | null;
  offer: string | null;
  codec: boolean;
}

/** The page expression that reads WhipState. */
export const WHIP_STATE =
  '({ status: window.whip.status, location: window.whip.location, error: window.whip.error, offer: window.whip.offer, codec: window.whip.codec })';

/**
 * Publishes over WHIP from `page` (opened at `pageUrl`, the server's origin) to `url`: asserts
 * the browser can send the codec asked for and the offer was answered 201; returns the state.
 */
export async function publishWhip(
  page: Page,
  pageUrl: string,
  url: string,
  key: string,
  options: { readonly onlyVideo?: string; readonly audio?: boolean } = {},
): Promise<WhipState> {
  await page.goto(pageUrl);
  await page.evaluate(whipPublishScript(url, key, options));
  await waitForPage(page, 'window.whip.status !== 0 || window.whip.error !== null', 15_000);
  const whip = await page.evaluate<WhipState>(WHIP_STATE);
  // Debian's Chromium encodes H.264, VP8 and AV1: without one this fails, never skips.
  assert.ok(whip.codec, whip.error ?? `no ${options.onlyVideo ?? 'video'} encoder`);
  assert.equal(whip.status, 201, whip.error ?? '');
  return whip;
}
