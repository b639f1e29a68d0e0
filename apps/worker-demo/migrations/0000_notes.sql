-- The notes table (src/schema.ts), as apps/lambda-demo's drizzle-kit migrations create it, written
-- to be idempotent so a demo or a test can apply it on every start.
CREATE TABLE IF NOT EXISTS notes (
  id integer PRIMARY KEY GENERATED ALWAYS AS IDENTITY,
  title text NOT NULL,
  body text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT notes_title_length CHECK (char_length(title) BETWEEN 1 AND 200),
  CONSTRAINT notes_body_length CHECK (char_length(body) <= 10000)
);
