package cmd

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/advtest/advtest/pkg/attack"
	"github.com/advtest/advtest/pkg/defend"
)

func init() {
	extraCommands = append(extraCommands, newAttacksCommand, newDefencesCommand)
}

// listedParam and listedEntry are the JSON form of a registry listing.
type listedParam struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	Default string `json:"default"`
	Doc     string `json:"doc"`
}

type listedEntry struct {
	Name    string        `json:"name"`
	Kind    string        `json:"kind,omitempty"`
	Summary string        `json:"summary"`
	Params  []listedParam `json:"params"`
}

// attackEntries lists the registered attacks, or only those named.
func attackEntries(names []string) ([]listedEntry, error) {
	if len(names) == 0 {
		names = attack.Names()
	}
	var out []listedEntry
	for _, n := range names {
		f, ok := attack.Lookup(n)
		if !ok {
			return nil, fmt.Errorf("unknown attack %q (known: %s)", n, strings.Join(attack.Names(), ", "))
		}
		e := listedEntry{Name: strings.ToLower(n), Summary: f.Summary, Params: []listedParam{}}
		for _, p := range f.Params {
			e.Params = append(e.Params, listedParam{p.Name, p.Type, p.Default, p.Doc})
		}
		out = append(out, e)
	}
	return out, nil
}

// defenceEntries lists the registered defences, or only those named.
func defenceEntries(names []string) ([]listedEntry, error) {
	if len(names) == 0 {
		names = defend.Names()
	}
	var out []listedEntry
	for _, n := range names {
		f, ok := defend.Lookup(n)
		if !ok {
			return nil, fmt.Errorf("unknown defence %q (known: %s)", n, strings.Join(defend.Names(), ", "))
		}
		e := listedEntry{Name: strings.ToLower(n), Kind: f.Kind.String(), Summary: f.Summary, Params: []listedParam{}}
		for _, p := range f.Params {
			e.Params = append(e.Params, listedParam{p.Name, p.Type, p.Default, p.Doc})
		}
		out = append(out, e)
	}
	return out, nil
}

func newDefencesCommand() *cobra.Command {
	var format string
	c := &cobra.Command{
		Use:     "defences [NAME...] [--format text|json|markdown]",
		Aliases: []string{"defenses"},
		Short:   "List the defences with their kind, parameters, types, defaults and docs",
		Long: `defences lists every registered defence (or the named ones): its kind
(trainer, graph rewrite, input wrapper or detector), a one-line summary and
each parameter with its type, default and meaning. Parameters are given
under harden.defences[].params in the config.`,
		Example: `  advtest defences
  advtest defences --format markdown > docs/defences.md`,
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return defend.Names(), cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(c *cobra.Command, args []string) error {
			es, err := defenceEntries(args)
			if err != nil {
				return usageError(err)
			}
			return usageError(writeListing(c.OutOrStdout(), format, "defence", es))
		},
	}
	c.Flags().StringVarP(&format, "format", "f", "text", "output format: text, json or markdown")
	_ = c.RegisterFlagCompletionFunc("format", cobra.FixedCompletions([]string{"text", "json", "markdown"}, cobra.ShellCompDirectiveNoFileComp))
	return c
}

func newAttacksCommand() *cobra.Command {
	var format string
	c := &cobra.Command{
		Use:   "attacks [NAME...] [--format text|json|markdown]",
		Short: "List the attacks with their parameters, types, defaults and docs",
		Long: `attacks lists every registered attack (or the named ones): a one-line
summary and each parameter with its type, default and meaning. Parameters
are given in a spec (-a pgd:eps=0.1,steps=40) or under attacks[].params
in the config.`,
		Example: `  advtest attacks
  advtest attacks pgd square
  advtest attacks --format json`,
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return attack.Names(), cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(c *cobra.Command, args []string) error {
			es, err := attackEntries(args)
			if err != nil {
				return usageError(err)
			}
			return usageError(writeListing(c.OutOrStdout(), format, "attack", es))
		},
	}
	c.Flags().StringVarP(&format, "format", "f", "text", "output format: text, json or markdown")
	_ = c.RegisterFlagCompletionFunc("format", cobra.FixedCompletions([]string{"text", "json", "markdown"}, cobra.ShellCompDirectiveNoFileComp))
	return c
}

// writeListing writes registry entries (attacks, defences) in a format.
func writeListing(w io.Writer, format, kind string, es []listedEntry) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(es)
	case "text":
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for i, e := range es {
			if i > 0 {
				fmt.Fprintln(tw)
			}
			if e.Kind != "" {
				fmt.Fprintf(tw, "%s\t(%s) %s\n", e.Name, e.Kind, e.Summary)
			} else {
				fmt.Fprintf(tw, "%s\t%s\n", e.Name, e.Summary)
			}
			for _, p := range e.Params {
				fmt.Fprintf(tw, "  %s\t%s\t= %s\t%s\n", p.Name, p.Type, orNone(p.Default), p.Doc)
			}
		}
		return tw.Flush()
	case "markdown":
		for i, e := range es {
			if i > 0 {
				fmt.Fprintln(w)
			}
			fmt.Fprintf(w, "## %s\n\n", e.Name)
			if e.Kind != "" {
				fmt.Fprintf(w, "Kind: %s. ", e.Kind)
			}
			fmt.Fprintf(w, "%s\n\n", e.Summary)
			if len(e.Params) == 0 {
				fmt.Fprintf(w, "This %s has no parameters.\n", kind)
				continue
			}
			fmt.Fprintln(w, "| parameter | type | default | meaning |")
			fmt.Fprintln(w, "| --- | --- | --- | --- |")
			for _, p := range e.Params {
				fmt.Fprintf(w, "| `%s` | %s | %s | %s |\n", p.Name, mdCell(p.Type), mdCell(orNone(p.Default)), mdCell(p.Doc))
			}
		}
		return nil
	}
	return fmt.Errorf("--format %q: want text, json or markdown", format)
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

var mdCellReplacer = strings.NewReplacer("|", `\|`, "\n", " ")

func mdCell(s string) string { return mdCellReplacer.Replace(s) }
