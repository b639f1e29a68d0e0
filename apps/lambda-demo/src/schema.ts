// The notes table, as drizzle sees it. drizzle-kit generates migrations/ from this file
// (`pnpm exec drizzle-kit generate`), and scripts apply them with anypg (src/migrate.ts).
//
// apps/worker-demo serves the same API on the same table shape, so one database can back both
// demos whichever app created the table.
import { sql } from 'drizzle-orm';
import { check, integer, pgTable, text, timestamp } from 'drizzle-orm/pg-core';

/** The longest title and body the API accepts; the database checks the same limits. */
export const TITLE_MAX = 200;
export const BODY_MAX = 10_000;

export const notes = pgTable(
  'notes',
  {
    // An identity column gives every note a unique, increasing id: the list is ordered by it, which
    // makes the order stable and the pagination cursor a plain integer.
    id: integer('id').primaryKey().generatedAlwaysAsIdentity(),
    title: text('title').notNull(),
    body: text('body').notNull().default(''),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  // The database enforces what validation promises, so a client that bypasses the API (a script, a
  // second app) cannot store what the API would refuse to return intact.
  (t) => [
    check('notes_title_length', sql`char_length(${t.title}) between 1 and ${sql.raw(String(TITLE_MAX))}`),
    check('notes_body_length', sql`char_length(${t.body}) <= ${sql.raw(String(BODY_MAX))}`),
  ],
);

export type Note = typeof notes.$inferSelect;

/** Everything createDb({ schema }) needs for db.query.* (only tables here). */
export const schema = { notes };
