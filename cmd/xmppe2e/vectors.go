package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/vectors"
	"github.com/xmppe2e/xmppe2e/vectors/gen"
)

var vectorsCmd = &command{
	name:    "vectors",
	args:    "verify [--scheme S] [DIR] | generate [--record] [--scheme S] [--recordings DIR] [DIR]",
	summary: "Check the test vectors (embedded, or the files in DIR) against our codecs, or rebuild them.",
	flags: func(fs *flag.FlagSet, e *env) func() error {
		return func() error {
			if len(e.args) == 0 {
				return usagef("verify or generate?")
			}
			seededCrypto()
			sub := flag.NewFlagSet("xmppe2e vectors "+e.args[0], flag.ContinueOnError)
			sub.SetOutput(io.Discard)
			scheme := sub.String("scheme", "", "only this scheme")
			switch e.args[0] {
			case "verify":
				if err := parseSub(sub, e); err != nil {
					return err
				}
				return verifyVectors(e, *scheme, sub.Args())
			case "generate":
				record := sub.Bool("record", false, "make new recordings first (fresh keys and randomness; runs the independent peers where installed)")
				recs := sub.String("recordings", filepath.Join("vectors", "gen", "testdata"), "where the recordings are kept")
				if err := parseSub(sub, e); err != nil {
					return err
				}
				return generateVectors(e, *scheme, *recs, *record, sub.Args())
			}
			return usagef("unknown action %q: verify or generate", e.args[0])
		}
	},
}

// seededCrypto makes crypto honour the seeded random sources of the
// vectors' receivers, for this process: the xtls transcripts replay only if
// the TLS key shares come from the seed, which Go 1.26 and later allow only
// with GODEBUG=cryptocustomrand=1 (read again when the variable changes).
// Only the vectors command needs it, so only it sets it.
func seededCrypto() {
	if vectors.SeededCrypto() {
		return
	}
	os.Setenv("GODEBUG", strings.TrimPrefix(os.Getenv("GODEBUG")+",cryptocustomrand=1", ","))
}

// parseSub parses the flags after the action; --help prints them.
func parseSub(sub *flag.FlagSet, e *env) error {
	err := sub.Parse(e.args[1:])
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(e.stdout, "Usage: %s [flags] [DIR]\n\nFlags:\n", sub.Name())
		sub.SetOutput(e.stdout)
		sub.PrintDefaults()
		return errHelpShown
	}
	if err != nil {
		return usagef("%v", err)
	}
	if sub.NArg() > 1 {
		return usagef("at most one directory")
	}
	return nil
}

// errHelpShown ends a command that printed its help: exit status 0.
var errHelpShown = errors.New("help shown")

func verifyVectors(e *env, only string, args []string) error {
	if only != "" {
		if _, err := e.scheme(only); err != nil {
			return err
		}
	}
	var files map[string]*vectors.File
	var err error
	where := "the embedded vectors"
	if len(args) == 1 {
		where = args[0]
		// LoadDir finds nothing in a directory that does not exist: say so
		// rather than pass zero vectors.
		if fi, err := os.Stat(where); err != nil {
			return err
		} else if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", where)
		}
		files, err = vectors.LoadDir(where)
	} else {
		files, err = vectors.Embedded()
	}
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no vector files (SCHEME.json) in %s", where)
	}
	if only != "" && files[only] == nil {
		return fmt.Errorf("no vectors for %s in %s", only, where)
	}
	passed, failed := 0, 0
	for _, name := range vectors.SchemeNames(files) {
		if only != "" && name != only {
			continue
		}
		s, err := e.scheme(name)
		if err != nil {
			fmt.Fprintf(e.stdout, "%s: no such scheme here, %d vectors not run\n", name, files[name].NumberOfTests)
			failed += files[name].NumberOfTests
			continue
		}
		for _, o := range vectors.Verify(e.ctx, s, files[name]) {
			status := "pass"
			detail := o.Got
			if !o.Passed() {
				status, detail = "FAIL", o.Err.Error()
				failed++
			} else {
				passed++
			}
			fmt.Fprintf(e.stdout, "%s %s tcId=%d %s: %s (%s)\n", status, name, o.Vector.TcID, o.Vector.Result, o.Vector.Comment, oneLine(detail))
		}
	}
	fmt.Fprintf(e.stdout, "%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		return fmt.Errorf("%d vectors failed", failed)
	}
	return nil
}

func generateVectors(e *env, only, recDir string, record bool, args []string) error {
	if only != "" {
		if _, err := e.scheme(only); err != nil {
			return err
		}
	}
	out := "vectors"
	if len(args) == 1 {
		out = args[0]
	}
	wrote := 0
	for _, s := range e.schemes {
		if only != "" && s.Name() != only {
			continue
		}
		recPath := filepath.Join(recDir, s.Name()+".json")
		rec, err := loadOrRecord(e, s, recPath, record)
		if err != nil {
			return fmt.Errorf("%s: %w", s.Name(), err)
		}
		if rec == nil {
			fmt.Fprintf(e.stderr, "xmppe2e vectors: %s: no recording at %s (run with --record)\n", s.Name(), recPath)
			continue
		}
		f, err := gen.Build(e.ctx, s, rec)
		if err != nil {
			return fmt.Errorf("%s: %w", s.Name(), err)
		}
		b, err := vectors.Encode(f)
		if err != nil {
			return err
		}
		path := filepath.Join(out, s.Name()+".json")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "xmppe2e vectors: wrote %s (%d vectors)\n", path, f.NumberOfTests)
		wrote++
	}
	if wrote == 0 {
		return fmt.Errorf("no recordings in %s: run from the module root, give --recordings DIR, or make new ones with --record", recDir)
	}
	return nil
}

func loadOrRecord(e *env, s e2e.Scheme, path string, record bool) (*gen.Recording, error) {
	if !record {
		b, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return gen.DecodeRecording(b)
	}
	fmt.Fprintf(e.stderr, "xmppe2e vectors: recording %s\n", s.Name())
	rec, err := gen.Make(e.ctx, s, nil, gen.Recorders(s.Name())...)
	if err != nil {
		return nil, err
	}
	b, err := gen.EncodeRecording(rec)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	return rec, os.WriteFile(path, b, 0o644)
}
