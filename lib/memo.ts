/** Remembering the answers of pure string functions that see the same few arguments request after request. */

/** Arguments longer than this are computed every time, never remembered: a full memo holds at most capacity × this many characters. */
const MAX_REMEMBERED_LENGTH = 256;

/**
 * `compute` with its last answers remembered, up to `capacity` arguments; when full, it forgets them
 * all and starts again (so many distinct arguments cost what `compute` costs, plus a Map insert).
 * Only for pure functions: the memo answers exactly what `compute` would.
 */
export function memoize<T>(compute: (argument: string) => T, capacity = 1024): (argument: string) => T {
  const answers = new Map<string, T>();
  return (argument) => {
    if (argument.length > MAX_REMEMBERED_LENGTH) return compute(argument);
    let answer = answers.get(argument);
    if (answer === undefined && !answers.has(argument)) {
      answer = compute(argument);
      if (answers.size >= capacity) answers.clear();
      answers.set(argument, answer);
    }
    return answer as T;
  };
}
