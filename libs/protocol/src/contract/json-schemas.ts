import 'reflect-metadata';
import { targetConstructorToSchema } from 'class-validator-jsonschema';
import { CLIENT_MESSAGES } from '../client-messages.js';
import { SERVER_EVENTS } from '../server-events.js';

export type JsonSchema = { [keyword: string]: unknown };

/** Where the schemas live in the AsyncAPI document; nested sections are `$ref`s to it. */
export const SCHEMA_REF_PREFIX = '#/components/schemas/';

export type ContractClass = abstract new () => object;

/**
 * JSON Schemas (draft-07) of every client message, server event and nested section, keyed by class
 * name, generated from their class-validator decorators. Objects are closed (`additionalProperties:
 * false`), as the server validates with `forbidNonWhitelisted` and sends nothing beyond them.
 */
export function contractSchemas(): Record<string, JsonSchema> {
  return Object.fromEntries([...contractClasses()].map(([name, { schema }]) => [name, schema]));
}

/** Every class of the contract by name, with its schema: the messages, the events and the sections they nest. */
export function contractClasses(): Map<string, { cls: ContractClass; schema: JsonSchema }> {
  const found = new Map<string, { cls: ContractClass; schema: JsonSchema }>();
  const pending: ContractClass[] = [...Object.values(CLIENT_MESSAGES), ...Object.values(SERVER_EVENTS)];
  for (let cls = pending.shift(); cls; cls = pending.shift()) {
    if (found.has(cls.name)) continue;
    const schema = targetConstructorToSchema(cls, { refPointerPrefix: SCHEMA_REF_PREFIX }) as JsonSchema;
    const properties = schema['properties'] as Record<string, JsonSchema>;
    for (const [name, property] of Object.entries(properties)) {
      if (typeof property['$ref'] !== 'string') continue;
      // `type` beside `$ref` is ignored by draft-07 tools; the referenced schema says it.
      delete property['type'];
      pending.push(Reflect.getMetadata('design:type', cls.prototype, name) as ContractClass);
    }
    found.set(cls.name, { cls, schema: { ...schema, additionalProperties: false } });
  }
  return found;
}
