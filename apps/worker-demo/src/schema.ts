// The notes table, as drizzle sees it: the same table as apps/lambda-demo's src/schema.ts (one
// database can back both demos, whichever created it). migrations/0000_notes.sql creates it; the
// tests check that it matches what lambda-demo's drizzle-kit migrations create.
import { sql } from 'drizzle-orm';
import { check, integer, pgTable, text, timestamp } from 'drizzle-orm/pg-core';

/** The longest title and body the API accepts; the database checks the same limits. */
export const TITLE_MAX = 200;
export const BODY_MAX = 10_000;

export const notes = pgTable(
  'notes',
  {
    // An identity column orders notes by creation and makes the pagination cursor a plain integer.
    id: integer('id').primaryKey().generatedAlwaysAsIdentity(),
    title: text('title').notNull(),
    body: text('body').notNull().default(''),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [
    check('notes_title_length', sql`char_length(${t.title}) between 1 and ${sql.raw(String(TITLE_MAX))}`),
    check('notes_body_length', sql`char_length(${t.body}) <= ${sql.raw(String(BODY_MAX))}`),
  ],
);

export type Note = typeof notes.$inferSelect;

export const schema = { notes };
