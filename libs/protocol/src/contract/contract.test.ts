import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Ajv } from 'ajv';
import { getMetadataStorage } from 'class-validator';
import specs from '@asyncapi/specs';
import {
  BINARY_AUDIO_MESSAGE,
  buildAsyncApiDocument,
  CLIENT_MESSAGES,
  contractClasses,
  type ContractClass,
  ERROR_CODES,
  SERVER_EVENTS,
  validateClientMessage,
  validateServerEvent,
  type ClientMessageType,
  type JsonSchema,
} from '../index.js';

type Json = Record<string, unknown>;
interface Messages {
  [name: string]: { payload: { $ref?: string }; examples?: Array<{ payload: Json }> };
}

const document = buildAsyncApiDocument() as Json & { components: { messages: Messages; schemas: Record<string, JsonSchema> }; operations: Record<string, Json> };

/** The DTO verdict: the validator the gateway runs for client messages, the event classes for server events. */
function dtoAccepts(type: string, message: Json): boolean {
  try {
    if (Object.hasOwn(CLIENT_MESSAGES, type)) validateClientMessage(type as ClientMessageType, message);
    else validateServerEvent(message);
    return true;
  } catch {
    return false;
  }
}

/** An ajv validator for each message's payload, resolved inside the (possibly mutated) document. */
function schemaValidators(doc: Json): (type: string, message: Json) => boolean {
  const ajv = new Ajv({ strict: true, allErrors: true });
  ajv.addVocabulary(['asyncapi', 'info', 'defaultContentType', 'servers', 'channels', 'operations', 'components']);
  ajv.addSchema(doc, 'asyncapi.json');
  const messages = (doc['components'] as { messages: Messages }).messages;
  return (type, message) => {
    const validate = ajv.getSchema(`asyncapi.json${messages[type]!.payload.$ref}`);
    assert.ok(validate, `no schema for ${type}`);
    return validate(message) as boolean;
  };
}

const classes = contractClasses();

/**
 * Values that sit on or just past each rule of a property, plus every wrong JSON type. The rules
 * come from both sides: the property's schema and its class-validator constraints.
 */
function probeValues(schema: JsonSchema, cls: ContractClass, property: string): unknown[] {
  const values: unknown[] = [undefined, null, 'text', ' ', '', 0, 0.5, 1, 1.5, 7, 100, 1e6, -1, true, [], {}];
  const { minLength, maxLength, minimum, maximum } = schema as Record<string, number | undefined>;
  for (const length of [minLength, maxLength]) {
    if (length === undefined) continue;
    for (const n of [length - 1, length, length + 1]) if (n >= 0) values.push('a'.repeat(n));
  }
  for (const bound of [minimum, maximum]) if (bound !== undefined) values.push(bound, bound - 0.001, bound + 0.001, bound + 0.5);
  if (schema['pattern'] !== undefined) values.push('a b!', 'ok_id-1.2:3@x');
  for (const option of (schema['enum'] as unknown[] | undefined) ?? []) values.push(option, typeof option === 'number' ? option + 1 : `${String(option)}x`);
  const constraints = getMetadataStorage()
    .getTargetValidationMetadatas(cls, '', true, false)
    .filter((meta) => meta.propertyName === property)
    .flatMap((meta) => (meta.constraints ?? []).flat());
  for (const constraint of constraints) {
    if (typeof constraint === 'string') values.push(constraint, `${constraint}x`);
    if (typeof constraint === 'number') values.push(constraint, constraint - 0.001, constraint + 0.001);
  }
  return values;
}

/** Every probe message of `base`: each property (nested ones recursively) set to each probe value, and an unknown field. */
function probeMessages(base: Json, schemaName: string, schemas: Record<string, JsonSchema>, path = ''): Array<{ path: string; message: Json }> {
  const schema = schemas[schemaName]!;
  const cls = classes.get(schemaName)!.cls;
  const probes: Array<{ path: string; message: Json }> = [{ path: `${path}unexpected_field`, message: { ...base, unexpected_field: 1 } }];
  for (const [name, property] of Object.entries(schema['properties'] as Record<string, JsonSchema>)) {
    const ref = property['$ref'] as string | undefined;
    const refName = ref?.split('/').at(-1);
    for (const value of probeValues(refName ? schemas[refName]! : property, cls, name)) {
      const message = { ...base, [name]: value };
      if (value === undefined) delete message[name];
      probes.push({ path: `${path}${name}=${JSON.stringify(value)?.slice(0, 24)}`, message });
    }
    if (refName) {
      const nested = (base[name] as Json | undefined) ?? {};
      for (const probe of probeMessages(nested, refName, schemas, `${path}${name}.`)) probes.push({ path: probe.path, message: { ...base, [name]: probe.message } });
    }
  }
  return probes;
}

/** Where the DTOs and the document's schemas give different verdicts on the probes of every example. */
function disagreements(doc: Json): string[] {
  const { messages, schemas } = doc['components'] as { messages: Messages; schemas: Record<string, JsonSchema> };
  const schemaAccepts = schemaValidators(doc);
  const found: string[] = [];
  for (const type of [...Object.keys(CLIENT_MESSAGES), ...Object.keys(SERVER_EVENTS)]) {
    const schemaName = messages[type]!.payload.$ref!.split('/').at(-1)!;
    const example = messages[type]!.examples![0]!.payload;
    for (const { path, message } of [{ path: '(example)', message: example }, ...probeMessages(example, schemaName, schemas)]) {
      const dto = dtoAccepts(type, message);
      if (dto !== schemaAccepts(type, message)) found.push(`${type} ${path}: DTO ${dto ? 'accepts' : 'rejects'}, schema ${dto ? 'rejects' : 'accepts'}`);
    }
  }
  return found;
}

describe('AsyncAPI document and DTOs', () => {
  it('is a valid AsyncAPI 3.0.0 document', () => {
    const ajv = new Ajv({ strict: false, meta: false, validateSchema: false, validateFormats: false, allErrors: true });
    const validate = ajv.compile(specs.schemas['3.0.0']);
    assert.ok(validate(document), JSON.stringify(validate.errors?.slice(0, 5), null, 2));
  });

  it('has every client message (received), server event (sent) and binary audio frame, with an example', () => {
    const actions = new Map<string, string>();
    for (const operation of Object.values(document.operations)) {
      for (const { $ref } of operation['messages'] as Array<{ $ref: string }>) actions.set($ref.split('/').at(-1)!, operation['action'] as string);
    }
    for (const type of Object.keys(CLIENT_MESSAGES)) assert.equal(actions.get(type), 'receive', type);
    for (const type of Object.keys(SERVER_EVENTS)) assert.equal(actions.get(type), 'send', type);
    assert.equal(actions.get(BINARY_AUDIO_MESSAGE), 'receive');
    assert.equal(actions.size, Object.keys(CLIENT_MESSAGES).length + Object.keys(SERVER_EVENTS).length + 1);
    for (const type of [...Object.keys(CLIENT_MESSAGES), ...Object.keys(SERVER_EVENTS)]) {
      const message = document.components.messages[type]!;
      assert.ok(message.examples?.[0]?.payload, `${type} has an example`);
      assert.equal(message.examples[0].payload['type'], type);
    }
  });

  it('lists every error code in the error event schema, with what to do about it', () => {
    const code = (document.components.schemas['ErrorEvent']!['properties'] as Record<string, JsonSchema>)['code']!;
    assert.deepEqual(code['enum'], Object.keys(ERROR_CODES));
    for (const [name, advice] of Object.entries(ERROR_CODES)) assert.ok((code['description'] as string).includes(`\`${name}\`: ${advice}`), name);
  });

  it('agrees with the DTOs on every example and on boundary, wrong-type, missing and unknown values of every field', () => {
    const found = disagreements(document);
    assert.deepEqual(found, []);
  });

  it('would notice a schema that drifts from the DTOs (mutation check)', () => {
    const mutations: Array<[string, (schemas: Record<string, JsonSchema>) => void, RegExp]> = [
      ['a dropped maximum', (s) => delete (s['SttConfigDto']!['properties'] as Record<string, JsonSchema>)['vad_threshold']!['maximum'], /stt\.vad_threshold=/],
      ['an open object', (s) => (s['BackendConfigDto']!['additionalProperties'] = true), /backend\.unexpected_field/],
      ['a lost required field', (s) => (s['TextPromptMessage']!['required'] = ['type']), /text\.prompt text=undefined/],
      ['a missing error code', (s) => ((s['ErrorEvent']!['properties'] as Record<string, JsonSchema>)['code']!['enum'] as string[]).pop(), /^error code=/],
    ];
    for (const [name, mutate, expected] of mutations) {
      const mutated = structuredClone(document);
      mutate(mutated.components.schemas);
      const found = disagreements(mutated);
      assert.ok(found.some((line) => expected.test(line)), `${name}: ${found.slice(0, 3).join(' | ') || 'no disagreement found'}`);
    }
  });
});
