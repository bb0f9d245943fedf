import { Conversation, timingsOf } from './conversation.js';
import { byId, h } from './dom.js';
import { EventLog } from './event-log.js';
import { Microphone } from './microphone.js';
import { bytesToBase64 } from './pcm.js';
import { parseFormat, Player } from './player.js';
import { VoiceSocket, type ServerEvent } from './voice-socket.js';

type Connection = 'disconnected' | 'connecting' | 'connected' | 'configuring' | 'configured';

interface SttSession {
  sample_rate: number;
  audio_format: string;
  commit_strategy: string;
}

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
  serverInfo: byId('server-info'),
  playback: byId('playback'),
  playbackText: byId('playback-text'),
  outputLevel: byId('output-level'),
  emptyConversation: byId('empty-conversation'),
};

const log = new EventLog();
const conversation = new Conversation();
const player = new Player();
const mic = new Microphone();

let connection: Connection = 'disconnected';
let sessionId: string | undefined;
let stt: SttSession | undefined;
let sttUnavailable: string | undefined;
let exampleConfigure = '';
/** When the input level last showed speech, and when the last user turn was committed. */
let lastVoicedAt: number | undefined;
let lastCommitAt = 0;
const micSent = { frames: 0, bytes: 0 };

const socket = new VoiceSocket({
  opened() {
    setConnection('connected');
    log.note(`connected to ${ui.url.value}`);
  },
  sent(message, at) {
    log.client(message, at);
  },
  event(event, at) {
    log.server(event, at);
    handle(event, at);
  },
  closed(code, reason) {
    void stopMic();
    player.stop();
    const wasOpen = connection !== 'connecting';
    setConnection('disconnected');
    sessionId = undefined;
    stt = undefined;
    const text = `Connection closed (${code}${reason ? `: ${reason}` : ''}).`;
    log.note(text);
    if (code !== 1000 || !wasOpen) conversation.note(text, code === 1000 ? 'info' : 'error');
  },
});

function handle(event: ServerEvent, at: number): void {
  const text = typeof event['text'] === 'string' ? event['text'] : '';
  switch (event.type) {
    case 'session.configured':
      sessionId = String(event['session_id']);
      setConnection('configured');
      conversation.note(`Session ${sessionId} configured.`);
      break;
    case 'stt.session_started':
      stt = event['config'] as SttSession;
      refresh();
      break;
    case 'transcript.partial':
      conversation.partial(text);
      break;
    case 'transcript.committed': {
      const speechEndAt = lastVoicedAt !== undefined && lastVoicedAt > lastCommitAt ? lastVoicedAt : undefined;
      lastCommitAt = at;
      if (text) conversation.addUserTurn('voice', text, at, speechEndAt);
      else {
        conversation.clearPartial();
        conversation.note('Committed with no speech: no turn.');
      }
      break;
    }
    case 'assistant.started':
      conversation.started(text, at);
      break;
    case 'assistant.message': {
      const turn = conversation.current();
      if (!turn) break;
      turn.replyText = text;
      turn.replyAt = at;
      conversation.update(turn);
      break;
    }
    case 'assistant.audio.chunk': {
      const turn = conversation.byTurnId(Number(event['turn_id']));
      const first = Number(event['chunk_index']) === 1;
      player.playChunk(String(event['audio']), String(event['output_format']), first);
      if (turn) {
        turn.firstAudioAt ??= at;
        turn.audioChunks++;
        turn.audioSeconds = audioSeconds(turn.audioSeconds, String(event['audio']), String(event['output_format']));
        conversation.update(turn);
      }
      showPlayback();
      break;
    }
    case 'assistant.audio.end': {
      const turn = conversation.byTurnId(Number(event['turn_id']));
      if (turn) {
        turn.audioDone = true;
        conversation.update(turn);
      }
      break;
    }
    case 'assistant.audio': {
      const turn = conversation.current();
      void player
        .playBlob(String(event['audio']), String(event['output_format']))
        .then(showPlayback)
        .catch((error: unknown) => conversation.note(`Could not play ${String(event['output_format'])}: ${String(error)}`, 'error'));
      if (turn) {
        turn.firstAudioAt ??= at;
        turn.audioDone = true;
        conversation.update(turn);
      }
      break;
    }
    case 'turn.metrics': {
      const turn = conversation.byTurnId(Number(event['turn_id']));
      const serverMs = event['user_to_first_audio_ms'];
      if (turn && typeof serverMs === 'number') {
        turn.serverToFirstAudio = serverMs;
        conversation.update(turn);
      }
      break;
    }
    case 'error': {
      const message = `${String(event['code'])}: ${String(event['message'])}`;
      const turn = conversation.current();
      if (turn && turn.replyText === undefined) {
        turn.error = message;
        conversation.update(turn);
      } else conversation.note(message, 'error');
      if (connection === 'configuring') setConnection('connected');
      break;
    }
  }
  ui.emptyConversation.hidden = true;
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

function refresh(): void {
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
  ui.prompt.disabled = !configured;
  ui.sendPrompt.disabled = !configured;
  ui.commit.disabled = !configured || !stt;
  ui.mic.disabled = !configured || !stt;
  ui.mic.textContent = mic.active ? 'Stop mic' : 'Start mic';
  ui.mic.classList.toggle('recording', mic.active);
  ui.audioMode.disabled = mic.active;
  ui.micStatus.textContent = micStatus(configured);
}

function micStatus(configured: boolean): string {
  if (mic.active && stt) {
    const end = stt.commit_strategy === 'manual' ? 'Send audio.commit to end your turn.' : 'Pause to end your turn.';
    return `Listening: ${stt.audio_format} from ${mic.deviceRate ?? '?'} Hz, ${micSent.frames} frames sent. ${end}`;
  }
  if (sttUnavailable) return `Speech input is unavailable on this server: ${sttUnavailable}`;
  if (!configured) return 'Connect and configure to use the microphone.';
  return stt ? `The server expects ${stt.audio_format}.` : 'Waiting for stt.session_started…';
}

async function startMic(): Promise<void> {
  if (!stt) return;
  const binary = ui.audioMode.value === 'binary';
  const rate = stt.sample_rate;
  micSent.frames = 0;
  micSent.bytes = 0;
  await mic.start(rate, stt.audio_format.startsWith('ulaw') ? 'ulaw' : 'pcm', {
    chunk({ audio, voicedAt }) {
      if (voicedAt !== undefined) lastVoicedAt = voicedAt;
      micSent.frames++;
      micSent.bytes += audio.byteLength;
      if (binary) socket.sendBinary(audio);
      else socket.send({ type: 'audio.append', audio: bytesToBase64(audio), sample_rate: rate });
      if (micSent.frames % 10 === 0) refresh();
    },
    level(rms) {
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

function meterLoop(): void {
  ui.outputLevel.style.width = `${levelPercent(player.level())}%`;
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
    socket.disconnect();
    return;
  }
  const configure = parsedConfigure();
  const format = typeof configure === 'object' ? ((configure['tts'] as { output_format?: string } | undefined)?.output_format ?? 'pcm_24000') : 'pcm_24000';
  player.unlock(parseFormat(format).rate);
  setConnection('connecting');
  socket.connect(ui.url.value);
});

ui.sendConfigure.addEventListener('click', () => {
  const configure = parsedConfigure();
  if (typeof configure === 'string') return;
  setConnection('configuring');
  socket.send(configure);
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
  conversation.addUserTurn('text', text, performance.now());
  socket.send({ type: 'text.prompt', text });
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

ui.commit.addEventListener('click', () => socket.send({ type: 'audio.commit' }));

/** Read-only state for people in the devtools console and for the browser tests. */
Object.assign(window, {
  __voiceConsole: {
    state: () => ({
      connection,
      sessionId,
      stt,
      mic: { active: mic.active, deviceRate: mic.deviceRate, ...micSent },
      playback: player.stats(),
      turns: conversation.turns.map((turn) => ({ ...turn, timings: timingsOf(turn) })),
      logged: log.size,
    }),
  },
});

refresh();
requestAnimationFrame(meterLoop);
loadServerInfo().catch((error: unknown) => conversation.note(`Could not load the server configuration: ${String(error)}`, 'error'));
