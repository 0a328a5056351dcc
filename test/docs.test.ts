/** The documentation stands alone: its links stay inside the repository and resolve, and the contract lists every reason of the catalog. */
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { errors } from "../lib/errors.ts";
import { ROOT } from "./processes.ts";

/** Every Markdown file of the repository (not its dependencies or build output). */
const markdownFiles = [...new Bun.Glob("**/*.md").scanSync({ cwd: ROOT })]
  .filter((path) => !/^(node_modules|dist)\//.test(path))
  .sort();

/** The text outside fenced code blocks and inline code, where a `[text](target)` is a link. */
function prose(markdown: string): string {
  return markdown.replace(/^```[\s\S]*?^```/gm, "").replace(/`[^`\n]*`/g, "");
}

/** GitHub's anchor for a heading: lowercased, punctuation dropped, spaces as dashes. */
function anchorOf(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, "").replace(/ /g, "-");
}

function anchorsIn(path: string): Set<string> {
  const headings = prose(readFileSync(path, "utf8")).match(/^#{1,6} .*$/gm) ?? [];
  return new Set(headings.map((heading) => anchorOf(heading.replace(/^#+ /, ""))));
}

describe("Markdown links", () => {
  test("the repository has Markdown files to check", () => {
    expect(markdownFiles).toContain("README.md");
    expect(markdownFiles).toContain("docs/protocol.md");
  });

  for (const file of markdownFiles) {
    test(`${file}: every link stays inside the repository and names a file (and heading) that exists`, () => {
      const path = join(ROOT, file);
      const links = [...prose(readFileSync(path, "utf8")).matchAll(/\]\(([^)\s]+)\)/g)].map((match) => match[1]);
      const broken = links.filter((link) => {
        if (/^[a-z][a-z0-9+.-]*:/i.test(link)) return false; // http:, https:, mailto:
        const [target, anchor] = link.split("#");
        const targetPath = target ? resolve(dirname(path), target) : path;
        if (relative(ROOT, targetPath).startsWith("..") || !existsSync(targetPath)) return true;
        return anchor !== undefined && targetPath.endsWith(".md") && !anchorsIn(targetPath).has(anchor);
      });
      expect(broken).toEqual([]);
    });
  }
});

describe("docs/protocol.md", () => {
  test("Part D lists every reason of lib/errors.ts's catalog with its status", () => {
    const protocol = readFileSync(join(ROOT, "docs", "protocol.md"), "utf8");
    // Every catalog entry, made once; the two that take arguments get placeholders.
    const catalog = Object.values(errors).map((make) => (make as (argument: never) => { status: number; reason: string })([] as never));
    expect(catalog.length).toBeGreaterThan(20);
    const missing = catalog.filter(({ status, reason }) => !protocol.includes(`| ${status} | \`${reason}\` |`));
    expect(missing).toEqual([]);
  });
});
