import { bytesToBase64, Microphone, parseFormat, Player, VoiceClient, type SessionConfig, type VoiceState } from '@voice-layer/client';
import { Conversation, timingsOf, type Turn } from './conversation.js';
import { byId, duration, h } from './dom.js';
import { EventLog } from './event-log.js';

/** The console is the first user of @voice-layer/client: every frame goes through its VoiceClient. */

type Connection = 'disconnected' | 'connecting' | 'connected' | 'configuring' | 'configured';

const ui = {
  status: byId('status'),
  url: byId<HTMLInputElement>('ws-url'),
  connect: byId<HTMLButtonElement>('connect'),
  configure: byId<HTMLTextAreaElement>('configure'),
  configureStatus: byId('configure-status'),
  sendConfigure: byId<HTMLButtonElement>('send-configure'),
  resetConfigure: byId<HTMLButtonElement>('reset-configure'),
  promptForm: byId<HTMLFormElement>('prompt-form'),
  prompt: byId<HTMLInputElement>('prompt'),
  sendPrompt: byId<HTMLButtonElement>('send-prompt'),
  mic: byId<HTMLButtonElement>('mic'),
  micStatus: byId('mic-status'),
  inputLevel: byId('input-level'),
  audioMode: byId<HTMLSelectElement>('audio-mode'),
  commit: byId<HTMLButtonElement>('commit'),
  stop: byId<HTMLButtonElement>('stop'),
  voiceState: byId('voice-state'),
  serverInfo: byId('server-info'),
  latency: byId('latency'),
  playback: byId('playback'),
  playbackText: byId('playback-text'),
  outputLevel: byId('output-level'),
  emptyConversation: byId('empty-conversation'),
};

const log = new EventLog();
const player = new Player();
const conversation = new Conversation({ recording: (turnId) => player.recording(turnId), replay: (turnId) => player.replay(turnId) });
/** The worklet is served beside this page (the CSP allows only this origin's scripts). */
const mic = new Microphone({ workletUrl: '/test/capture-worklet.js' });
const client = new VoiceClient({ player });

let connection: Connection = 'disconnected';
let sttUnavailable: string | undefined;
let exampleConfigure = '';
/** When the input level last showed speech, and when the last user turn was committed. */
let lastVoicedAt: number | undefined;
let lastCommitAt = 0;
const micSent = { frames: 0, bytes: 0 };
/** Voice states seen, in order (for the tests and the devtools). */
const stateHistory: VoiceState[] = [client.state];

client.on('sent', (sent) => log.client('message' in sent ? sent.message : sent, performance.now()));
client.on('event', (event) => {
  log.server(event, performance.now());
  ui.emptyConversation.hidden = true;
});
client.on('open', ({ url, attempt }) => {
  setConnection('connected');
  log.note(attempt ? `reconnected to ${url}` : `connected to ${url}`);
});
client.on('close', ({ code, reason, reconnecting, handshake_status }) => {
  void stopMic();
  const wasOpen = connection !== 'connecting';
  setConnection(reconnecting ? 'connecting' : 'disconnected');
  const text = `Connection closed (${handshake_status ? `HTTP ${handshake_status}` : code}${reason ? `: ${reason}` : ''}).${reconnecting ? ' Reconnecting…' : ''}`;
  log.note(text);
  if (code !== 1000 || !wasOpen) conversation.note(text, code === 1000 ? 'info' : 'error');
});
client.on('reconnecting', ({ attempt, delay_ms }) => log.note(`reconnect attempt ${attempt} in ${duration(delay_ms)}`));
client.on('reconnected', ({ session_id }) => conversation.note(`Reconnected${session_id ? ` to session ${session_id}` : ''}; the configuration was sent again.`));
client.on('reconnect_failed', ({ attempts }) => conversation.note(`Gave up reconnecting after ${attempts} attempts.`, 'error'));
client.on('state', ({ state }) => {
  stateHistory.push(state);
  // A reply that finished playing (a decoded blob included) can now show its waveform.
  const last = conversation.turns[conversation.turns.length - 1];
  if (last?.audioDone && state !== 'speaking') conversation.update(last);
  refresh();
});

client.on('session.configured', (event) => {
  setConnection('configured');
  conversation.note(`Session ${event.session_id} configured.`);
});
client.on('stt.session_started', () => refresh());
/** Whether the current user turn has set the log's time mark (speech start, or its first partial). */
let turnMarked = false;
client.on('user.speech_started', () => {
  log.mark(performance.now(), 'speech start');
  turnMarked = true;
});
client.on('transcript.partial', (event) => {
  if (!turnMarked && event.text) {
    log.mark(performance.now(), 'first partial transcript');
    turnMarked = true;
  }
  conversation.partial(event.text);
});
client.on('transcript.committed', (event) => {
  const at = performance.now();
  const speechEndAt = lastVoicedAt !== undefined && lastVoicedAt > lastCommitAt ? lastVoicedAt : undefined;
  lastCommitAt = at;
  turnMarked = false;
  if (event.text) conversation.addUserTurn('voice', event.text, at, speechEndAt);
  else {
    conversation.clearPartial();
    conversation.note('Committed with no speech: no turn.');
  }
});
client.on('assistant.started', (event) => conversation.started(event.text, event.turn_id, performance.now()));
client.on('assistant.message.delta', (event) => {
  const turn = conversation.byTurnId(event.turn_id);
  if (!turn) return;
  turn.firstDeltaAt ??= performance.now();
  turn.replyText = (turn.replyText ?? '') + event.text;
  turn.streaming = true;
  conversation.update(turn);
});
client.on('assistant.message', (event) => {
  const turn = conversation.byTurnId(event.turn_id) ?? conversation.current();
  if (!turn) return;
  turn.replyText = event.text;
  turn.streaming = false;
  turn.replyAt = performance.now();
  conversation.update(turn);
});
client.on('assistant.audio.chunk', (event) => {
  const turn = conversation.byTurnId(event.turn_id);
  if (turn) {
    turn.firstAudioAt ??= performance.now();
    turn.audioChunks++;
    turn.audioSeconds = audioSeconds(turn.audioSeconds, event.audio, event.output_format);
    conversation.update(turn);
  }
  showPlayback();
});
client.on('assistant.audio.end', (event) => {
  const turn = conversation.byTurnId(event.turn_id);
  if (turn) finishAudio(turn);
});
client.on('assistant.audio', () => {
  const turn = conversation.current();
  if (!turn) return;
  turn.firstAudioAt ??= performance.now();
  finishAudio(turn);
});
client.on('assistant.interrupted', (event) => {
  const turn = conversation.byTurnId(event.turn_id);
  if (!turn) return;
  turn.interrupted = { reason: event.reason, played_ms: event.played_ms, heard_text: event.heard_text };
  turn.streaming = false;
  finishAudio(turn);
});
client.on('turn.metrics', (event) => {
  const turn = conversation.byTurnId(event.turn_id);
  if (!turn) return;
  turn.metrics = event;
  if (event.user_to_first_audio_ms !== undefined) turn.serverToFirstAudio = event.user_to_first_audio_ms;
  conversation.update(turn);
  showLatency();
});
client.on('error', (event) => {
  const message = `${event.code}: ${event.message}`;
  const turn = conversation.current();
  if (turn && turn.replyText === undefined) {
    turn.error = message;
    conversation.update(turn);
  } else conversation.note(message, 'error');
  if (connection === 'configuring') setConnection('connected');
});

function finishAudio(turn: Turn): void {
  turn.audioDone = true;
  conversation.update(turn);
  showPlayback();
  showLatency();
}

/** Seconds of audio after adding one chunk. */
function audioSeconds(seconds: number, base64: string, format: string): number {
  const { codec, rate } = parseFormat(format);
  const bytes = Math.floor((base64.length * 3) / 4) - (base64.endsWith('==') ? 2 : base64.endsWith('=') ? 1 : 0);
  return seconds + bytes / (codec === 'ulaw' ? rate : rate * 2);
}

function setConnection(next: Connection): void {
  connection = next;
  refresh();
}

function parsedConfigure(): Record<string, unknown> | string {
  try {
    const value = JSON.parse(ui.configure.value) as unknown;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'must be a JSON object';
    if ((value as Record<string, unknown>)['type'] !== 'session.configure') return '"type" must be "session.configure"';
    return value as Record<string, unknown>;
  } catch (error) {
    return (error as Error).message;
  }
}

const STATE_LABELS: Record<VoiceState, string> = {
  idle: 'Idle',
  listening: 'Listening',
  user_speaking: 'You are speaking',
  thinking: 'Thinking',
  speaking: 'Speaking',
};

function refresh(): void {
  const sessionId = client.sessionId;
  const labels: Record<Connection, string> = {
    disconnected: 'Disconnected',
    connecting: 'Connecting…',
    connected: 'Connected · not configured',
    configuring: 'Configuring…',
    configured: `Configured · ${(sessionId ?? '').slice(0, 12)}${(sessionId?.length ?? 0) > 12 ? '…' : ''}`,
  };
  ui.status.textContent = labels[connection];
  ui.status.title = sessionId ? `session_id ${sessionId}` : '';
  ui.status.dataset['state'] = connection;
  document.body.dataset['connection'] = connection;
  ui.connect.textContent = connection === 'disconnected' ? 'Connect' : 'Disconnect';
  ui.connect.classList.toggle('primary', connection === 'disconnected');
  ui.url.disabled = connection !== 'disconnected';

  const configure = parsedConfigure();
  ui.configureStatus.textContent = typeof configure === 'string' ? `Invalid JSON: ${configure}` : 'Valid JSON';
  ui.configureStatus.classList.toggle('bad', typeof configure === 'string');
  ui.sendConfigure.disabled = connection !== 'connected' || typeof configure === 'string';

  const configured = connection === 'configured';
  const stt = client.stt;
  ui.prompt.disabled = !configured;
  ui.sendPrompt.disabled = !configured;
  ui.commit.disabled = !configured || !stt;
  ui.mic.disabled = !configured || !stt;
  ui.mic.textContent = mic.active ? 'Stop mic' : 'Start mic';
  ui.mic.classList.toggle('recording', mic.active);
  ui.audioMode.disabled = mic.active;
  ui.micStatus.textContent = micStatus(configured);
  ui.stop.disabled = !configured || (client.state !== 'thinking' && client.state !== 'speaking');
  ui.voiceState.textContent = STATE_LABELS[client.state];
  ui.voiceState.dataset['state'] = client.state;
}

function micStatus(configured: boolean): string {
  const stt = client.stt;
  if (mic.active && stt) {
    const end = stt.commit_strategy === 'manual' ? 'Send audio.commit to end your turn.' : `Pause ${stt.vad_silence_threshold_secs} s to end your turn.`;
    return `Listening${mic.muted ? ' (muted)' : ''}: ${stt.audio_format} from ${mic.deviceRate ?? '?'} Hz, ${micSent.frames} frames sent. ${end}`;
  }
  if (sttUnavailable) return `Speech input is unavailable on this server: ${sttUnavailable}`;
  if (!configured) return 'Connect and configure to use the microphone.';
  return stt ? `The server expects ${stt.audio_format}.` : 'Waiting for stt.session_started…';
}

async function startMic(): Promise<void> {
  const stt = client.stt;
  if (!stt) return;
  const binary = ui.audioMode.value === 'binary';
  const rate = stt.sample_rate;
  micSent.frames = 0;
  micSent.bytes = 0;
  await mic.start({
    sampleRate: rate,
    encoding: stt.audio_format.startsWith('ulaw') ? 'ulaw' : 'pcm',
    onFrame({ audio, voicedAt }) {
      if (voicedAt !== undefined) lastVoicedAt = voicedAt;
      micSent.frames++;
      micSent.bytes += audio.byteLength;
      if (binary) client.sendAudio(audio);
      else if (client.connected) client.send({ type: 'audio.append', audio: bytesToBase64(audio), sample_rate: rate });
      if (micSent.frames % 10 === 0) refresh();
    },
    onLevel(rms) {
      ui.inputLevel.style.width = `${levelPercent(rms)}%`;
    },
  });
  refresh();
}

async function stopMic(): Promise<void> {
  await mic.stop();
  ui.inputLevel.style.width = '0%';
  refresh();
}

/** An RMS level on a -60..0 dBFS meter. */
function levelPercent(level: number): number {
  const db = 20 * Math.log10(Math.max(level, 1e-6));
  return Math.max(0, Math.min(100, ((db + 60) / 60) * 100));
}

function showPlayback(): void {
  const stats = player.stats();
  ui.playback.dataset['scheduledChunks'] = String(stats.chunks);
  ui.playback.dataset['scheduledSeconds'] = String(stats.seconds);
  ui.playback.dataset['underruns'] = String(stats.underruns);
  const blobs = stats.blobs ? ` + ${stats.blobs} whole` : '';
  ui.playbackText.textContent = `${stats.format ?? 'no audio yet'} · ${stats.chunks} chunks${blobs} · ${stats.seconds.toFixed(1)} s · ${stats.underruns} underruns`;
  ui.playbackText.title = `AudioContext at ${stats.contextRate ?? '?'} Hz, ${stats.contextState}`;
}

/** Median and worst of each timing across the turns so far. */
function latencySummary(turns: readonly Turn[]): Array<{ label: string; count: number; median?: number; worst?: number }> {
  const rows: Array<[string, (turn: Turn) => number | undefined]> = [
    ['speech end → transcript', (t) => timingsOf(t).speechEndToTranscript],
    ['transcript/sent → reply', (t) => timingsOf(t).transcriptToReply],
    ['reply → first audio', (t) => timingsOf(t).replyToFirstAudio],
    ['total (client)', (t) => timingsOf(t).total],
    ['user → first audio (server)', (t) => t.metrics?.user_to_first_audio_ms],
  ];
  return rows.map(([label, pick]) => {
    const values = turns.map(pick).filter((v): v is number => v !== undefined).sort((a, b) => a - b);
    if (values.length === 0) return { label, count: 0 };
    const middle = values.length >> 1;
    const median = values.length % 2 ? values[middle]! : (values[middle - 1]! + values[middle]!) / 2;
    return { label, count: values.length, median, worst: values[values.length - 1]! };
  });
}

function showLatency(): void {
  const summary = latencySummary(conversation.turns);
  const rows = summary.filter((row) => row.count > 0);
  if (rows.length === 0) return;
  const table = h('table', 'latency-table');
  const head = h('tr');
  head.append(h('th', '', ''), h('th', '', 'median'), h('th', '', 'worst'), h('th', '', 'turns'));
  table.append(head);
  for (const row of rows) {
    const tr = h('tr');
    tr.append(h('td', '', row.label), h('td', 'num', duration(row.median!)), h('td', 'num', duration(row.worst!)), h('td', 'num', String(row.count)));
    table.append(tr);
  }
  ui.latency.replaceChildren(table);
}

let frame = 0;
function meterLoop(): void {
  ui.outputLevel.style.width = `${levelPercent(player.level())}%`;
  if (++frame % 30 === 0) showPlayback();
  requestAnimationFrame(meterLoop);
}

async function loadServerInfo(): Promise<void> {
  const [config, contract] = await Promise.all([fetchJson('/v1/voice/config'), fetchJson('/asyncapi.json')]);
  const example = (contract as { components: { messages: Record<string, { examples: Array<{ payload: unknown }> }> } }).components.messages['session.configure']!.examples[0]!.payload;
  exampleConfigure = JSON.stringify(example, null, 2);
  ui.configure.value = exampleConfigure;
  const server = config as {
    websocket: { path: string };
    backend: { mode: string; default_registration: string | null };
    stt: { default_provider: string | null; providers: Array<{ id: string; available: boolean; reason?: string }> };
    tts: { default_provider: string; default_output_format: string; providers: Array<{ id: string; available: boolean; voices: string[] }> };
  };
  ui.url.value = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${server.websocket.path}`;
  const localStt = server.stt.providers.find((provider) => provider.id === server.stt.default_provider);
  sttUnavailable = server.stt.default_provider ? undefined : (server.stt.providers.find((p) => p.reason)?.reason ?? 'no provider');
  const tts = server.tts.providers.find((provider) => provider.id === server.tts.default_provider);
  const rows: Array<[string, string]> = [
    ['Chat backend', server.backend.mode === 'embedded' ? 'embedded (local responder)' : server.backend.mode],
    ['Speech input', localStt ? `${localStt.id}` : `unavailable: ${sttUnavailable}`],
    ['Speech output', `${server.tts.default_provider}, ${server.tts.default_output_format}`],
    ['Voices', tts?.voices.join(', ') ?? '—'],
  ];
  ui.serverInfo.replaceChildren(...rows.flatMap(([term, value]) => [h('dt', '', term), h('dd', '', value)]));
  refresh();
}

async function fetchJson(path: string): Promise<unknown> {
  const response = await fetch(path, { headers: { accept: 'application/json' } });
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

ui.connect.addEventListener('click', () => {
  if (connection !== 'disconnected') {
    client.close();
    return;
  }
  const configure = parsedConfigure();
  const format = typeof configure === 'object' ? ((configure['tts'] as { output_format?: string } | undefined)?.output_format ?? 'pcm_24000') : 'pcm_24000';
  player.unlock(parseFormat(format).rate);
  setConnection('connecting');
  client.connect(ui.url.value).catch((error: unknown) => log.note(`connect failed: ${String(error)}`));
});

ui.sendConfigure.addEventListener('click', () => {
  const configure = parsedConfigure();
  if (typeof configure === 'string') return;
  setConnection('configuring');
  const { type: _type, ...config } = configure;
  // The server validates it and answers with `error` (shown in the conversation) if it is wrong.
  client.configure(config as SessionConfig).catch(() => undefined);
});

ui.resetConfigure.addEventListener('click', () => {
  ui.configure.value = exampleConfigure;
  refresh();
});
ui.configure.addEventListener('input', refresh);

ui.promptForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const text = ui.prompt.value.trim();
  if (!text) return;
  const at = performance.now();
  conversation.addUserTurn('text', text, at);
  log.mark(at, 'text.prompt');
  client.prompt(text);
  ui.prompt.value = '';
  ui.emptyConversation.hidden = true;
});

ui.mic.addEventListener('click', () => {
  const action = mic.active ? stopMic() : startMic();
  action.catch((error: unknown) => {
    conversation.note(`Microphone: ${error instanceof Error ? error.message : String(error)}`, 'error');
    refresh();
  });
});

ui.commit.addEventListener('click', () => client.commit());
ui.stop.addEventListener('click', () => client.cancel());

/** Read-only state for people in the devtools console and for the browser tests. */
Object.assign(window, {
  __voiceConsole: {
    state: () => ({
      connection,
      sessionId: client.sessionId,
      stt: client.stt,
      voiceState: client.state,
      stateHistory: [...stateHistory],
      mic: { active: mic.active, deviceRate: mic.deviceRate, ...micSent },
      playback: player.stats(),
      turns: conversation.turns.map((turn) => ({ ...turn, timings: timingsOf(turn) })),
      latency: latencySummary(conversation.turns),
      logged: log.size,
    }),
  },
});

refresh();
requestAnimationFrame(meterLoop);
loadServerInfo().catch((error: unknown) => conversation.note(`Could not load the server configuration: ${String(error)}`, 'error'));
