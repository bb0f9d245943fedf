/**
 * A deterministic offline assistant: same input, same answer, no network. It makes the whole
 * stack work with no keys, and gives tests replies they can predict.
 */
interface Rule {
  pattern: RegExp;
  reply: (message: string) => string;
}

const RULES: Rule[] = [
  { pattern: /\b(hello|hi|hey|good (morning|afternoon|evening))\b/i, reply: () => 'Hello! I am the local voice assistant. How can I help you today?' },
  { pattern: /\bweather\b/i, reply: () => 'I cannot check the live weather from here, but I hope it is pleasant where you are.' },
  { pattern: /\byour name\b|\bwho are you\b/i, reply: () => 'I am the local assistant built into Voice Layer. I run without any network access.' },
  { pattern: /\b(thank you|thanks)\b/i, reply: () => 'You are welcome.' },
  { pattern: /\b(bye|goodbye)\b/i, reply: () => 'Goodbye! It was nice talking with you.' },
  { pattern: /\b(what can you do|help)\b/i, reply: () => 'I can repeat what you say and answer a few simple questions. Connect a real chat backend for more.' },
];

const MAX_ECHO_CHARS = 300;

export function localReply(message: string): string {
  const text = message.trim().replace(/\s+/g, ' ');
  const rule = RULES.find((candidate) => candidate.pattern.test(text));
  if (rule) return rule.reply(text);
  const echoed = text.length > MAX_ECHO_CHARS ? `${text.slice(0, MAX_ECHO_CHARS)}...` : text;
  return `You said: ${echoed}`;
}
