// Command reaper deletes media at Huawei MetaStudio, Tencent SMH and Tencent VOD in bulk: producers
// enqueue deletion tasks into Redis, workers execute them with per-provider rate limits, circuit
// breakers and an error-code retry policy, and every task ends in exactly one recorded outcome.
//
// main only parses flags, wires packages together and handles signals; the work is in jobs,
// providers and scheduler.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// command is one subcommand.
type command struct {
	name, summary string
	run           func(ctx context.Context, env *env, args []string) error
}

// env is what every command gets: its streams and the process environment.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	// onFlags, when set, is given every FlagSet newFlags makes: how completion learns each
	// command's flags.
	onFlags func(*flag.FlagSet)
}

// exitError carries a specific exit code (wait: 1 failed, 2 timeout).
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func commands() []command {
	return []command{
		{"demo", "run everything in-process against the provider fakes: no Redis, no credentials", runDemo},
		{"worker", "run deletion workers until SIGINT/SIGTERM", runWorker},
		{"enqueue", "enqueue one target (flags) or a JSONL manifest (--manifest FILE or -); --after D / --at TIME register in the retention index, --unregister cancels", runEnqueue},
		{"status", "counts per outcome, pending, rate and ETA (one batch, or the queues and recent batches)", runStatus},
		{"wait", "block until a batch is done: exit 0 none failed, 1 some failed, 2 timeout", runWait},
		{"report", "one row per target of a batch, as JSONL or CSV", runReport},
		{"retry", "re-enqueue a batch's failed targets as a new batch, or (--now) run its parked tasks now", runRetry},
		{"undo", "restore every item a batch moved to a recycle bin (SMH), as a new batch of kind undo: --batch ID [--dry-run] [--conflict ask|rename|overwrite] [--yes]", runUndo},
		{"cancel", "stop a batch: queued tasks are removed and recorded cancelled", runCancel},
		{"reconcile", "check that a batch's counts add up: requeue tasks stranded without a lease; with --manifest, re-enqueue targets lost from Redis", runReconcile},
		{"pause", "hold one provider's queue (e.g. while its credentials rotate)", runPause},
		{"resume", "release a paused provider queue (--provider), or continue a batch suspended by its failure threshold (--batch)", runResume},
		{"serve", "run the HTTP producer API (POST /v1/batches ...) on api.listen until SIGINT/SIGTERM", runServe},
		{"scheduler", "run the retention policies on their schedules until SIGINT/SIGTERM (replicas elect one leader)", runScheduler},
		{"policies", "list retention policies with their last and next runs; `policies run NAME [--dry-run]` runs one now", runPolicies},
		{"fakes", "serve the MSS, SMH and VOD fakes on loopback for your own deployment or code", runFakes},
		{"completion", "print a shell completion script: bash, zsh or fish (source <(reaper completion bash))", runCompletion},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	e := &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
	os.Exit(run(ctx, e, os.Args[1:]))
}

// run executes one command line and returns the process exit code.
func run(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(e.stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, e, args[1:])
		var ee *exitError
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.As(err, &ee):
			if ee.msg != "" {
				fmt.Fprintln(e.stderr, "reaper "+c.name+":", ee.msg)
			}
			return ee.code
		default:
			fmt.Fprintln(e.stderr, "reaper "+c.name+":", err)
			return 1
		}
	}
	fmt.Fprintf(e.stderr, "reaper: unknown command %q\n\n", args[0])
	usage(e.stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "reaper deletes media at MetaStudio (mss), Smart Media Hosting (smh) and VOD (vod) in bulk.")
	fmt.Fprintln(w, "\nUsage: reaper <command> [flags]   (reaper <command> --help for its flags)")
	fmt.Fprintln(w, "\nCommands:")
	cs := commands()
	width := 0
	for _, c := range cs {
		width = max(width, len(c.name))
	}
	for _, c := range cs {
		fmt.Fprintf(w, "  %-*s  %s\n", width, c.name, c.summary)
	}
	fmt.Fprintln(w, "\nConfiguration: --config FILE or REAPER_CONFIG (YAML); credentials from REAPER_* environment variables.")
}

// newFlags returns a FlagSet for a subcommand whose --help prints the summary and every flag.
func newFlags(e *env, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet("reaper "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	if e.onFlags != nil {
		e.onFlags(fs)
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: reaper %s %s\n\n", name, synopsis)
		for _, c := range commands() {
			if c.name == name {
				fmt.Fprintf(fs.Output(), "%s.\n\nFlags:\n", strings.ToUpper(c.summary[:1])+c.summary[1:])
			}
		}
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags and rejects stray positional arguments.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: this command takes flags only (see --help)", fs.Arg(0))
	}
	return nil
}
