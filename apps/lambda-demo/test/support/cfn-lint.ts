// AWS's CloudFormation linter (the Python package cfn-lint, which `sam validate --lint` runs), for
// the template tests. It is not an npm package: the tests use the one on PATH (the build machines'
// image ships cfn-lint 1.51.0 with aws-sam-translator 1.110.0), or `python3` with the cfnlint
// module importable. Nothing here installs it.
import { spawn, spawnSync } from 'node:child_process';

export interface CfnLintFinding {
  Filename: string;
  Level: 'Error' | 'Warning' | 'Informational';
  Message: string;
  Rule: { Id: string; ShortDescription: string };
  Location: { Start: { LineNumber: number }; Path: (string | number)[] };
}

interface Command {
  file: string;
  prefix: string[];
}

const CANDIDATES: Command[] = [
  { file: 'cfn-lint', prefix: [] },
  // The package's console script, without the script itself (a PATH without its bin folder).
  { file: 'python3', prefix: ['-c', 'import sys; from cfnlint.runner import main; sys.exit(main())'] },
];

let found: { command: Command; version: string } | null | undefined;

/** The cfn-lint this machine has and its version ("1.51.0"), or null when it has none. */
export function findCfnLint(): { command: Command; version: string } | null {
  if (found !== undefined) return found;
  found = null;
  for (const command of CANDIDATES) {
    const r = spawnSync(command.file, [...command.prefix, '--version'], { encoding: 'utf8', timeout: 60_000 });
    const version = r.status === 0 ? /cfn-lint (\d+\.\d+\.\d+)/.exec(r.stdout)?.[1] : undefined;
    if (version) {
      found = { command, version };
      break;
    }
  }
  return found;
}

/**
 * Lints the templates in one cfn-lint run (it starts in about a second; each template adds less)
 * and returns every finding, informational ones included. cfn-lint's exit code is a bit set of the
 * levels found (2 error, 4 warning, 8 informational); 1 or a non-JSON output means it failed.
 */
export async function cfnLint(templates: string[], args: string[] = []): Promise<CfnLintFinding[]> {
  const lint = findCfnLint();
  if (!lint) throw new Error('cfn-lint is not installed (pip install cfn-lint), so the template cannot be linted');
  const argv = [...lint.command.prefix, '--format', 'json', '--include-checks', 'I', ...args, '--', ...templates];
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>(
    (resolve, reject) => {
      const child = spawn(lint.command.file, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
      child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
      child.on('error', reject);
      child.on('close', (status) => resolve({ code: status, stdout: out, stderr: err }));
    },
  );
  if (code === null || code === 1 || (code & ~0b1110) !== 0) {
    throw new Error(`cfn-lint failed (exit ${code}): ${stderr.trim() || stdout.trim()}`);
  }
  try {
    return JSON.parse(stdout) as CfnLintFinding[];
  } catch {
    throw new Error(`cfn-lint printed no JSON (exit ${code}): ${stderr.trim() || stdout.slice(0, 500)}`);
  }
}

/** A finding as one line a person can read in a failed assertion. */
export const describeFinding = (f: CfnLintFinding): string =>
  `${f.Rule.Id} ${f.Filename.split('/').pop()}:${f.Location.Start.LineNumber} ${f.Message}`;
