// The READMEs' code, read from the READMEs themselves so the tests cannot drift from them.
import { readFileSync } from 'node:fs';

export interface CodeBlock {
  /** The fence's language (ts, sh...). */
  lang: string;
  code: string;
  /** Where it is: file and line of the opening fence. */
  where: string;
}

export function codeBlocks(file: string, label: string): CodeBlock[] {
  const lines = readFileSync(file, 'utf8').split('\n');
  const blocks: CodeBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w+)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !lines[i]!.startsWith('```'); i++) body.push(lines[i]!);
    blocks.push({ lang: open[1]!, code: `${body.join('\n')}\n`, where: `${label}:${start + 1}` });
  }
  return blocks;
}

/** Splits a shell command line into words (double and single quotes; no expansions). */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let quote: string | undefined;
  let inWord = false;
  for (const ch of line) {
    if (quote) {
      if (ch === quote) quote = undefined;
      else word += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += ch;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}
