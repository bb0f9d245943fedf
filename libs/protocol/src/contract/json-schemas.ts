import 'reflect-metadata';
import { createRequire } from 'node:module';
import { targetConstructorToSchema } from 'class-validator-jsonschema';
import { CLIENT_MESSAGES } from '../client-messages.js';
import { SERVER_EVENTS } from '../server-events.js';

export type JsonSchema = { [keyword: string]: unknown };

/** Where the schemas live in the AsyncAPI document; nested sections are `$ref`s to it. */
export const SCHEMA_REF_PREFIX = '#/components/schemas/';

export type ContractClass = abstract new () => object;

/**
 * class-transformer's `@Type()` records, which say what class an array's items are (`design:type`
 * only says Array). The package has no export for them but its own storage module; `class-transformer`
 * resolves to the same CommonJS build, so this is the very store the decorators wrote to.
 */
type TypeStore = { findTypeMetadata(target: object, property: string): { typeFunction: () => ContractClass } | undefined };
const typeStore = (createRequire(import.meta.url)('class-transformer/cjs/storage') as { defaultMetadataStorage: TypeStore }).defaultMetadataStorage;

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
    const schema = targetConstructorToSchema(cls, { refPointerPrefix: SCHEMA_REF_PREFIX, classTransformerMetadataStorage: typeStore as never }) as JsonSchema;
    const properties = schema['properties'] as Record<string, JsonSchema>;
    for (const [name, property] of Object.entries(properties)) {
      const items = property['items'] as JsonSchema | undefined;
      if (typeof property['$ref'] === 'string') {
        // `type` beside `$ref` is ignored by draft-07 tools; the referenced schema says it.
        delete property['type'];
      } else if (typeof items?.['$ref'] !== 'string') continue;
      const nested = typeStore.findTypeMetadata(cls, name)?.typeFunction() ?? (Reflect.getMetadata('design:type', cls.prototype as object, name) as ContractClass);
      pending.push(nested);
    }
    found.set(cls.name, { cls, schema: { ...schema, additionalProperties: false } });
  }
  return found;
}
