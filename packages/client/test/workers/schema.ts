// The schema the test Worker queries. Table names carry a per-test-file prefix so test files that
// run at the same time (each in its own isolate) never touch each other's rows.
import { relations } from 'drizzle-orm';
import { integer, numeric, pgTable, serial, text, timestamp } from 'drizzle-orm/pg-core';

export function makeSchema(prefix: string) {
  const authors = pgTable(`${prefix}_authors`, {
    id: serial('id').primaryKey(),
    name: text('name').notNull().unique(),
  });
  const posts = pgTable(`${prefix}_posts`, {
    id: serial('id').primaryKey(),
    authorId: integer('author_id')
      .notNull()
      .references(() => authors.id),
    title: text('title').notNull(),
    score: numeric('score'),
    at: timestamp('at', { withTimezone: true }).notNull().defaultNow(),
  });
  const authorsRelations = relations(authors, ({ many }) => ({ posts: many(posts) }));
  const postsRelations = relations(posts, ({ one }) => ({
    author: one(authors, { fields: [posts.authorId], references: [authors.id] }),
  }));
  return { authors, posts, authorsRelations, postsRelations };
}

export type TestSchema = ReturnType<typeof makeSchema>;

/** The DDL for makeSchema(prefix), run from Node before the Worker is asked anything. */
export function ddl(prefix: string): string {
  return `create table ${prefix}_authors (id serial primary key, name text not null unique);
create table ${prefix}_posts (id serial primary key, author_id integer not null references ${prefix}_authors(id),
  title text not null, score numeric, at timestamptz not null default now());`;
}

export function dropDdl(prefix: string): string {
  return `drop table if exists ${prefix}_posts, ${prefix}_authors`;
}
