import { backupCommand, restoreCommand } from './backup.ts';
import { chaosCommand } from './chaos.ts';
import { checkConfigCommand } from './check-config.ts';
import { importCommand } from './import.ts';
import { keysCommand } from './keys.ts';
import { simulateCommand } from './simulate.ts';
import { startCommand } from './start.ts';
import { statusCommand } from './status.ts';

const HELP = `holdfast — an AI chat gateway that stays up, and says so honestly when it can't

Usage: holdfast <command> [options]

Commands:
  start [--config FILE] [--port N] [--host H]
                                  Start the gateway (no config: embedded default with two simulated regions)
  check-config [--config FILE]    Validate a config file and print every problem with its field path
  simulate [--port N] [--host H]  Run the built-in simulator provider on its own (OpenAI + Anthropic wire)
           [--ttft MS] [--tps N] [--tokens N] [--capacity N]
  keys create --name NAME [--models a,b] [--rpm N --tpm N --concurrent N --priority critical|interactive|batch]
                                  Create a caller API key (printed once; stored hashed)
  keys list                       List keys (never the secrets)
  keys revoke ID|PREFIX           Revoke a key
  chaos list|inject|clear         Break a running gateway's deployments on purpose, for a while (docs/chaos.md)
  status export --out DIR [--s3]  Render the status page, API JSON and feeds from the database to static files
  import litellm FILE [--out F]   Turn a LiteLLM proxy config into holdfast.yaml and report what did not map
                                  (--out - for stdout, --force to overwrite, --json; docs/import-litellm.md)
  backup [FILE | -] [--force]     Write every table to one portable file (PGlite or PostgreSQL; gzip'd JSON
                                  lines); '-' streams to stdout. backup verify FILE checks one without a database
  restore FILE|- [--force]        Load a backup into an empty store of either engine (--force replaces data);
                                  both take --data-dir DIR or --database-url URL (docs/disaster-recovery.md)
  help                            This text

Config lookup: --config FILE, else $HOLDFAST_CONFIG, else ./holdfast.yaml if present, else the embedded default.
Environment: HOLDFAST_ADMIN_KEY (admin key, also a caller key), DATABASE_URL (use PostgreSQL instead of
PGlite in ./data), OPENAI_API_KEY / ANTHROPIC_API_KEY (add real providers to the embedded default).
Docs: README.md and docs/ in the project.
`;

type Command = (args: string[]) => Promise<number>;

const commands: Record<string, Command> = {
  start: startCommand,
  'check-config': checkConfigCommand,
  simulate: simulateCommand,
  keys: keysCommand,
  chaos: chaosCommand,
  status: statusCommand,
  import: importCommand,
  backup: backupCommand,
  restore: restoreCommand,
  help: async () => {
    process.stdout.write(HELP);
    return 0;
  },
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h') return commands.help!([]);
  if (name === '--version' || name === '-v') {
    const { version } = (await import('../../package.json', { with: { type: 'json' } })).default;
    process.stdout.write(`${version}\n`);
    return 0;
  }
  const cmd = commands[name];
  if (!cmd) {
    process.stderr.write(`holdfast: unknown command '${name}'\n\n${HELP}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) return commands.help!([]);
  return cmd(rest);
}

try {
  const code = await main(process.argv.slice(2));
  if (code !== 0) process.exitCode = code;
} catch (err) {
  process.stderr.write(`holdfast: ${(err as Error).message}\n`);
  process.exitCode = 1;
}
