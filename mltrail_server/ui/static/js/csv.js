// CSV and TSV read a chunk at a time (RFC 4180 quoting: "a ""b""", fields across lines).

/**
 * Parse the records of `text`. Unless `final`, the last record may be cut by the chunk's end:
 * it is not returned, and `rest` (the text from its start) goes before the next chunk.
 * Resolves to `{ records: string[][], rest: string }`.
 */
export function parseDelimited(text, delimiter, final) {
  const records = [];
  let record = [];
  let field = "";
  let quoted = false;
  let recordStart = 0;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const char = text[i];
    if (quoted) {
      if (char === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        if (i + 1 === n && !final) break; // an escaped quote may be cut in two
        quoted = false;
      } else {
        field += char;
      }
      i += 1;
      continue;
    }
    if (char === '"' && field === "") {
      quoted = true;
    } else if (char === delimiter) {
      record.push(field);
      field = "";
    } else if (char === "\n" || char === "\r") {
      if (char === "\r" && i + 1 === n && !final) break; // \r\n may be cut in two
      record.push(field);
      records.push(record);
      record = [];
      field = "";
      if (char === "\r" && text[i + 1] === "\n") i += 1;
      recordStart = i + 1;
    } else {
      field += char;
    }
    i += 1;
  }
  if (final) {
    if (field !== "" || record.length) {
      record.push(field);
      records.push(record);
    }
    return { records, rest: "" };
  }
  return { records, rest: text.slice(recordStart) };
}
