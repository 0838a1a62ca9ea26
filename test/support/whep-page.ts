// Test harness: an in-page WHEP client for Chromium (page.evaluate of the script returned): a
// recvonly offer for video and audio POSTed to `url`, the answer applied (edited first when the
// test asks), the tracks played muted in a <video>. Its state goes to window.whep: status,
// location, error, the answer as applied, the H.264 payload type the answer chose, and pc.

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
