package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"

	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/providers"
)

// maxShownErrors is how many bad manifest lines enqueue prints before summarising the rest.
const maxShownErrors = 20

func runEnqueue(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "enqueue", "(--manifest FILE|- | --provider P [target flags]) [--dry-run] [--yes]")
	cfgPath := configFlag(fs, e)
	manifest := fs.String("manifest", "", "JSONL manifest `file`, one target per line; - reads stdin")
	dryRun := fs.Bool("dry-run", false, "validate every line and print counts per provider; enqueue nothing")
	yes := fs.Bool("yes", false, "confirm a manifest larger than enqueue.confirm_above (deletes are irreversible)")
	by := fs.String("submitted-by", defaultSubmitter(), "who submits the batch, recorded with it")
	note := fs.String("note", "", "free text recorded with the batch (ticket, reason)")
	var one providers.Target
	provider := fs.String("provider", "", "single target: mss, smh or vod")
	fs.StringVar(&one.FileID, "file-id", "", "single target: MSS file_id or VOD FileId")
	fs.StringVar(&one.ProjectID, "project-id", "", "single target (mss): project_id (default providers.mss.project_id)")
	fs.StringVar(&one.AppUserID, "app-user-id", "", "single target (mss): X-App-UserId")
	fs.StringVar(&one.LibraryID, "library-id", "", "single target (smh): library (default providers.smh.library_id)")
	fs.StringVar(&one.SpaceID, "space-id", "", "single target (smh): space, - for single-tenant (default providers.smh.space_id)")
	fs.StringVar(&one.Path, "path", "", "single target (smh): file path such as foo/bar/file.docx")
	fs.BoolVar(&one.Permanent, "permanent", false, "single target (smh): delete permanently instead of to the recycle bin")
	fs.StringVar(&one.UserID, "user-id", "", "single target (smh): user_id")
	fs.Uint64Var(&one.SubAppID, "sub-app-id", 0, "single target (vod): SubAppId (default providers.vod.sub_app_id)")
	parts := fs.String("delete-parts", "", "single target (vod): Type[:Definition],... e.g. TranscodeFiles:230,WechatPublishFiles")
	if err := parse(fs, args); err != nil {
		return err
	}
	if (*manifest == "") == (*provider == "") {
		return errors.New("give either --manifest FILE (or -) or --provider with target flags")
	}

	p, closeFn, err := openPipeline(ctx, e, *cfgPath)
	if err != nil {
		return err
	}
	defer closeFn()
	meta := jobs.BatchMeta{SubmittedBy: *by, Note: *note}

	if *provider != "" {
		one.Provider = providers.Name(*provider)
		if one.DeleteParts, err = parseParts(*parts); err != nil {
			return err
		}
		if err := p.Producer.Prepare(&one); err != nil {
			return err
		}
		if *dryRun {
			fmt.Fprintf(e.stdout, "valid: %s (dry run: nothing enqueued)\n", one)
			return nil
		}
		meta.Source = "cli"
		sum, err := p.Producer.Submit(ctx, meta, slices.Values([]providers.Target{one}), nil)
		if err != nil {
			return err
		}
		return printSummary(e, sum)
	}

	// Manifest: a first pass validates every line (and counts), a second enqueues. A manifest with
	// any bad line enqueues nothing, so a fix-and-rerun never half-deletes.
	src, cleanup, err := openManifest(e, *manifest)
	if err != nil {
		return err
	}
	defer cleanup()
	counts, err := validateManifest(e, p.Producer, src)
	if err != nil {
		return err
	}
	total := 0
	for _, n := range providers.Names {
		total += counts[n]
	}
	if *dryRun {
		for _, n := range providers.Names {
			if counts[n] > 0 {
				fmt.Fprintf(e.stdout, "%s\t%d\n", n, counts[n])
			}
		}
		fmt.Fprintf(e.stdout, "total\t%d\n(dry run: every line is valid; nothing enqueued)\n", total)
		return nil
	}
	if limit := p.Config.Enqueue.ConfirmAbove; limit > 0 && total > limit && !*yes {
		return fmt.Errorf("the manifest has %d targets, more than enqueue.confirm_above (%d); deletes are irreversible: check it with --dry-run, then pass --yes", total, limit)
	}
	if _, err := src.Seek(0, io.SeekStart); err != nil {
		return err
	}
	meta.Source = "manifest:" + *manifest
	var bar func(jobs.Summary)
	if isTerminal(e.stderr) {
		bar = func(s jobs.Summary) {
			fmt.Fprintf(e.stderr, "\renqueued %d/%d (%d duplicates) %3.0f%%", s.Enqueued, total, s.Duplicates,
				100*float64(s.Enqueued+s.Duplicates)/float64(max(1, total)))
		}
	}
	var readErr error
	targets := func(yield func(providers.Target) bool) {
		readErr = jobs.ReadManifest(src, func(line int, t providers.Target) error {
			if err := p.Producer.Prepare(&t); err != nil {
				return &jobs.LineError{Line: line, Err: err} // changed since the first pass
			}
			if !yield(t) {
				return errStop
			}
			return nil
		}, func(le *jobs.LineError) error { return le })
	}
	sum, err := p.Producer.Submit(ctx, meta, iter.Seq[providers.Target](targets), bar)
	if bar != nil {
		fmt.Fprintln(e.stderr)
	}
	if err == nil && readErr != nil && !errors.Is(readErr, errStop) {
		err = readErr
	}
	if err != nil {
		return fmt.Errorf("batch %s stopped after %d tasks: %w (reaper cancel --batch %s stops what was enqueued)", sum.Batch, sum.Enqueued, err, sum.Batch)
	}
	return printSummary(e, sum)
}

var errStop = errors.New("stop")

func printSummary(e *env, s jobs.Summary) error {
	fmt.Fprintln(e.stdout, s.Batch)
	var per []string
	for _, n := range providers.Names {
		if s.ByProvider[n] > 0 {
			per = append(per, fmt.Sprintf("%s %d", n, s.ByProvider[n]))
		}
	}
	fmt.Fprintf(e.stderr, "batch %s: %d enqueued (%s), %d duplicates already queued\n", s.Batch, s.Enqueued, strings.Join(per, ", "), s.Duplicates)
	return nil
}

// openManifest opens the manifest for two passes. Stdin is spooled to a temporary file as it is read,
// so memory stays flat for any size.
func openManifest(e *env, name string) (io.ReadSeeker, func(), error) {
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, nil, err
		}
		return f, func() { _ = f.Close() }, nil
	}
	tmp, err := os.CreateTemp("", "reaper-manifest-*.jsonl")
	if err != nil {
		return nil, nil, err
	}
	cleanup := func() { _ = tmp.Close(); _ = os.Remove(tmp.Name()) }
	if _, err := io.Copy(tmp, e.stdin); err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("read stdin: %w", err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		cleanup()
		return nil, nil, err
	}
	return tmp, cleanup, nil
}

// validateManifest reads every line, prints the bad ones (up to maxShownErrors) and counts targets per
// provider. Any bad line is an error.
func validateManifest(e *env, p *jobs.Producer, r io.Reader) (map[providers.Name]int, error) {
	counts := map[providers.Name]int{}
	bad := 0
	report := func(le *jobs.LineError) error {
		bad++
		if bad <= maxShownErrors {
			fmt.Fprintln(e.stderr, le)
		}
		return nil
	}
	err := jobs.ReadManifest(r, func(line int, t providers.Target) error {
		if err := p.Prepare(&t); err != nil {
			return report(&jobs.LineError{Line: line, Err: err})
		}
		counts[t.Provider]++
		return nil
	}, report)
	if err != nil {
		return nil, err
	}
	if bad > 0 {
		if bad > maxShownErrors {
			fmt.Fprintf(e.stderr, "... and %d more bad lines\n", bad-maxShownErrors)
		}
		return nil, fmt.Errorf("%d bad lines: nothing enqueued", bad)
	}
	return counts, nil
}

// parseParts parses --delete-parts "Type[:Definition],...".
func parseParts(s string) ([]providers.DeletePart, error) {
	if s == "" {
		return nil, nil
	}
	var out []providers.DeletePart
	for _, item := range strings.Split(s, ",") {
		typ, def, hasDef := strings.Cut(strings.TrimSpace(item), ":")
		p := providers.DeletePart{Type: typ}
		if hasDef {
			n, err := strconv.ParseInt(def, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("--delete-parts: definition %q of %s is not a number", def, typ)
			}
			p.Definition = n
		}
		out = append(out, p)
	}
	return out, nil
}

// defaultSubmitter is user@host, what a batch records when --submitted-by is not given.
func defaultSubmitter() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return name + "@" + host
}
