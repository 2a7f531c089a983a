import type { Kysely, Selectable } from 'kysely';
import { randomId } from '../../core/ids.ts';
import type { CharactersTable, Database } from '../../stores/database.ts';
import { jsonb } from '../../stores/database.ts';
import { type Character, characterSchema, loadExampleCharacters } from '../cards/index.ts';
import { ChatError } from '../errors.ts';
import type { ChatUser } from '../session.ts';

export interface CharacterRecord {
  id: string;
  /** null: shipped with Holdfast, visible to everyone. */
  ownerId: string | null;
  character: Character;
  createdAt: Date;
  updatedAt: Date;
}

/** Characters: the user's own plus the shipped ones. Shipped ones are edited by admins only. */
export class CharacterStore {
  readonly #db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.#db = db;
  }

  /** Inserts the example characters once; ids are stable so restarts and replicas never duplicate them. */
  async seedExamples(): Promise<void> {
    for (const ex of loadExampleCharacters()) {
      await this.#db
        .insertInto('characters')
        .values({
          id: `shipped-${ex.slug}`,
          owner_id: null,
          name: ex.character.name,
          card: jsonb(ex.character),
        })
        .onConflict((oc) => oc.column('id').doNothing())
        .execute();
    }
  }

  async list(user: ChatUser): Promise<CharacterRecord[]> {
    const rows = await this.#db
      .selectFrom('characters')
      .selectAll()
      .where((eb) => eb.or([eb('owner_id', '=', user.id), eb('owner_id', 'is', null)]))
      .orderBy('owner_id', 'desc')
      .orderBy('name')
      .execute();
    return rows.map(toRecord);
  }

  /** A character the user may see; 404 otherwise (whether it exists is none of their business). */
  async get(id: string, user: ChatUser): Promise<CharacterRecord> {
    const row = await this.#db.selectFrom('characters').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row || (row.owner_id !== null && row.owner_id !== user.id)) throw new ChatError('not_found');
    return toRecord(row);
  }

  async create(user: ChatUser, character: Character): Promise<CharacterRecord> {
    const row = await this.#db
      .insertInto('characters')
      .values({ id: randomId('chr_', 20), owner_id: user.id, name: character.name, card: jsonb(character) })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toRecord(row);
  }

  async update(id: string, user: ChatUser, character: Character): Promise<CharacterRecord> {
    const current = await this.get(id, user);
    assertMayEdit(current, user);
    const row = await this.#db
      .updateTable('characters')
      .set({ name: character.name, card: jsonb(character), updated_at: new Date() })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirstOrThrow();
    return toRecord(row);
  }

  async delete(id: string, user: ChatUser): Promise<void> {
    const current = await this.get(id, user);
    assertMayEdit(current, user);
    await this.#db.deleteFrom('characters').where('id', '=', id).execute();
  }
}

function assertMayEdit(c: CharacterRecord, user: ChatUser): void {
  if (c.ownerId === user.id) return;
  if (c.ownerId === null && user.role === 'admin') return;
  throw new ChatError(
    'forbidden',
    'Only its owner (or an admin, for shipped characters) may change this character.',
  );
}

function toRecord(row: Selectable<CharactersTable>): CharacterRecord {
  // Stored by this app, but parsed anyway: a row written by an older version must not crash a reader.
  const parsed = characterSchema.safeParse(row.card);
  if (!parsed.success) throw new ChatError('internal', `character ${row.id} is stored in an unreadable form`);
  return {
    id: row.id,
    ownerId: row.owner_id,
    character: parsed.data,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
