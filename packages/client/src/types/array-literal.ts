// PostgreSQL's text output of an array (`{1,NULL,"a \"b\""}`, nested `{{1,2},{3,4}}`, with an
// optional `[1:2]=` bounds prefix) to nested arrays of element strings and nulls, as
// node-postgres' array parser reads it. Elements stay text; the caller converts them.

export type ArrayItems = (string | null | ArrayItems)[];

export function parseArrayLiteral(text: string): ArrayItems {
  let i = text.startsWith('[') ? text.indexOf('=') + 1 : 0;
  const parse = (): ArrayItems => {
    if (text[i] !== '{') throw new Error('not an array literal');
    i++;
    const items: ArrayItems = [];
    if (text[i] === '}') {
      i++;
      return items;
    }
    for (;;) {
      const c = text[i];
      if (c === '{') {
        items.push(parse());
      } else if (c === '"') {
        let value = '';
        i++;
        while (i < text.length && text[i] !== '"') {
          if (text[i] === '\\') i++;
          value += text[i++];
        }
        i++;
        items.push(value);
      } else {
        let end = i;
        while (end < text.length && text[end] !== ',' && text[end] !== '}') end++;
        const token = text.slice(i, end).trim();
        items.push(/^null$/i.test(token) ? null : token);
        i = end;
      }
      if (text[i] === ',') {
        i++;
        continue;
      }
      if (text[i] === '}') {
        i++;
        return items;
      }
      throw new Error('not an array literal');
    }
  };
  return parse();
}
