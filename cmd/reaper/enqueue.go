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
	"time"

	"github.com/reaper-media/reaper/jobs"
	"github.com/reaper-media/reaper/providers"
)

// maxShownErrors is how many bad manifest lines enqueue prints before summarising the rest.
const maxShownErrors = 20

func runEnqueue(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "enqueue", "(--manifest FILE|- | --provider P [target flags]) [--after D | --at TIME | --unregister] [--dry-run] [--yes]")
	cfgPath := configFlag(fs, e)
	manifest := fs.String("manifest", "", "JSONL manifest `file`, one target per line; - reads stdin")
	dryRun := fs.Bool("dry-run", false, "validate every line and print counts per provider; enqueue nothing")
	yes := fs.Bool("yes", false, "confirm a manifest larger than enqueue.confirm_above (deletes are irreversible)")
	by := fs.String("submitted-by", defaultSubmitter(), "who submits the batch, recorded with it")
	note := fs.String("note", "", "free text recorded with the batch (ticket, reason)")
	bf := batchMetaFlags(fs)
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
	after := fs.Duration("after", 0, "register the target(s) in the retention index, due this long from now (e.g. 720h), instead of enqueueing")
	at := fs.String("at", "", "register the target(s) in the retention index, due at this RFC 3339 `time` (e.g. 2026-12-31T00:00:00Z), instead of enqueueing")
	unregister := fs.Bool("unregister", false, "cancel the target(s)' retention-index registrations before they are due")
	out := outputFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if (*manifest == "") == (*provider == "") {
		return errors.New("give either --manifest FILE (or -) or --provider with target flags")
	}
	mode, err := indexModeOf(*after, *at, *unregister)
	if err != nil {
		return err
	}
	if err := bf.check(); err != nil {
		return err
	}

	p, closeFn, err := openPipeline(ctx, e, *cfgPath)
	if err != nil {
		return err
	}
	defer closeFn()
	meta, err := bf.meta(p, jobs.BatchMeta{SubmittedBy: *by, Note: *note})
	if err != nil {
		return err
	}

	if *provider != "" {
		one.Provider = providers.Name(*provider)
		if one.DeleteParts, err = parseParts(*parts); err != nil {
			return err
		}
		if err := p.Producer.Prepare(&one); err != nil {
			return err
		}
		if *dryRun {
			return out.print(e, countsJSON{DryRun: true, Action: mode.verb(), Total: 1, ByProvider: map[providers.Name]int{one.Provider: 1}}, func(w io.Writer) {
				fmt.Fprintf(w, "valid: %s (dry run: nothing %s)\n", one, mode.verb())
			})
		}
		if mode.index() {
			return indexTargets(ctx, e, out, p, mode, slices.Values([]providers.Target{one}))
		}
		meta.Source = "cli"
		meta.IdempotencyKey.Request = targetDigest(one)
		sum, replayed, err := p.Producer.SubmitIdempotent(ctx, meta, slices.Values([]providers.Target{one}), nil)
		if err != nil {
			return err
		}
		if replayed {
			return out.replay(ctx, e, p, sum.Batch, *bf.key)
		}
		return out.summary(e, sum)
	}

	// Manifest: a first pass validates every line (and counts), a second enqueues. A manifest with
	// any bad line enqueues nothing, so a fix-and-rerun never half-deletes.
	src, cleanup, err := openManifest(e, *manifest)
	if err != nil {
		return err
	}
	defer cleanup()
	counts, err := validateManifest(e, p.Producer, src, mode.verb())
	if err != nil {
		return err
	}
	total := 0
	for _, n := range providers.Names {
		total += counts[n]
	}
	if *dryRun {
		return out.print(e, countsJSON{DryRun: true, Action: mode.verb(), Total: total, ByProvider: counts}, func(w io.Writer) {
			for _, n := range providers.Names {
				if counts[n] > 0 {
					fmt.Fprintf(w, "%s\t%d\n", n, counts[n])
				}
			}
			fmt.Fprintf(w, "total\t%d\n(dry run: every line is valid; nothing %s)\n", total, mode.verb())
		})
	}
	if mode.index() {
		if _, err := src.Seek(0, io.SeekStart); err != nil {
			return err
		}
		var readErr error
		err := indexTargets(ctx, e, out, p, mode, p.Producer.ManifestTargets(src, false, &readErr))
		if err == nil {
			err = readErr
		}
		return err
	}
	if err := jobs.Confirm(p.Config.Enqueue.ConfirmAbove, total, "targets", *yes); err != nil {
		return fmt.Errorf("%w: check the manifest with --dry-run, then pass --yes", err)
	}
	if _, err := src.Seek(0, io.SeekStart); err != nil {
		return err
	}
	meta.Source = "manifest:" + *manifest
	if meta.IdempotencyKey.Request, err = readerDigest(src); err != nil {
		return err
	}
	var bar func(jobs.Summary)
	if isTerminal(e.stderr) {
		bar = func(s jobs.Summary) {
			fmt.Fprintf(e.stderr, "\renqueued %d/%d (%d duplicates) %3.0f%%", s.Enqueued, total, s.Duplicates,
				100*float64(s.Enqueued+s.Duplicates)/float64(max(1, total)))
		}
	}
	var readErr error
	sum, replayed, err := p.Producer.SubmitIdempotent(ctx, meta, p.Producer.ManifestTargets(src, false, &readErr), bar)
	if bar != nil {
		fmt.Fprintln(e.stderr)
	}
	if err == nil && replayed {
		return out.replay(ctx, e, p, sum.Batch, *bf.key)
	}
	if err == nil {
		err = readErr // a line that no longer validates: the file changed since the first pass
	}
	if err != nil {
		return fmt.Errorf("batch %s stopped after %d tasks: %w (reaper cancel --batch %s stops what was enqueued)", sum.Batch, sum.Enqueued, err, sum.Batch)
	}
	return out.summary(e, sum)
}

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

// validateManifest is the first pass: it prints the bad lines (up to maxShownErrors) and counts
// targets per provider. Any bad line is an error saying nothing was done (verb: "enqueued",
// "registered", ...).
func validateManifest(e *env, p *jobs.Producer, r io.Reader, verb string) (map[providers.Name]int, error) {
	check, err := p.CheckManifest(r, maxShownErrors)
	if err != nil {
		return nil, err
	}
	for _, le := range check.Rejected {
		fmt.Fprintln(e.stderr, le)
	}
	if check.Bad > 0 {
		if check.Bad > len(check.Rejected) {
			fmt.Fprintf(e.stderr, "... and %d more bad lines\n", check.Bad-len(check.Rejected))
		}
		return nil, fmt.Errorf("%d bad lines: nothing %s", check.Bad, verb)
	}
	return check.Valid, nil
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

// indexMode is what enqueue does with its targets: enqueue them now, or register them in (or remove
// them from) the retention index, from which `index` policies enqueue them when due.
type indexMode struct {
	register, unregister bool
	due                  time.Time
}

// indexModeOf reads --after, --at and --unregister.
func indexModeOf(after time.Duration, at string, unregister bool) (indexMode, error) {
	switch {
	case unregister && (after != 0 || at != ""):
		return indexMode{}, errors.New("--unregister cancels registrations: it takes no --after or --at")
	case after != 0 && at != "":
		return indexMode{}, errors.New("give --after or --at, not both")
	case after < 0:
		return indexMode{}, fmt.Errorf("--after must be positive, got %s", after)
	case after > 0:
		return indexMode{register: true, due: time.Now().Add(after)}, nil
	case at != "":
		due, err := time.Parse(time.RFC3339, at)
		if err != nil {
			return indexMode{}, fmt.Errorf("--at: %q is not an RFC 3339 time such as 2026-12-31T00:00:00Z", at)
		}
		return indexMode{register: true, due: due}, nil
	}
	return indexMode{unregister: unregister}, nil
}

func (m indexMode) index() bool { return m.register || m.unregister }

func (m indexMode) verb() string {
	switch {
	case m.register:
		return "registered"
	case m.unregister:
		return "unregistered"
	}
	return "enqueued"
}

// indexTargets registers every target in the retention index (due m.due) or cancels its registration,
// several at a time (enqueue.parallel), and prints the counts.
func indexTargets(ctx context.Context, e *env, out *output, p *app, m indexMode, targets iter.Seq[providers.Target]) error {
	x := jobs.NewIndex(p.Redis, p.Config.FillTarget)
	if m.unregister {
		seen, had, err := x.UnregisterAll(ctx, targets, p.Config.Enqueue.Parallel)
		if err != nil {
			return fmt.Errorf("stopped after %d targets %s: %w", seen, m.verb(), err)
		}
		notFound := seen - had
		return out.print(e, countsJSON{Action: m.verb(), Total: had, NotFound: &notFound}, func(w io.Writer) {
			fmt.Fprintf(w, "unregistered %d of %d targets (%d had no registration)\n", had, seen, notFound)
		})
	}
	done, err := x.RegisterAll(ctx, targets, m.due, p.Config.Enqueue.Parallel)
	total := 0
	var per []string
	for _, n := range providers.Names {
		total += done[n]
		if done[n] > 0 {
			per = append(per, fmt.Sprintf("%s %d", n, done[n]))
		}
	}
	if err != nil {
		return fmt.Errorf("stopped after %d targets %s: %w", total, m.verb(), err)
	}
	due := m.due.UTC().Format(time.RFC3339)
	return out.print(e, countsJSON{Action: m.verb(), Total: total, ByProvider: done, Due: due}, func(w io.Writer) {
		fmt.Fprintf(w, "registered %d targets (%s), due %s\n", total, strings.Join(per, ", "), due)
	})
}
