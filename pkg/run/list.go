package run

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/advtest/advtest/pkg/attack"
	"github.com/advtest/advtest/pkg/defend"
)

// ListParam and ListEntry are the JSON form of a registry listing: an
// attack or defence with its kind (defences), summary and parameters.
type ListParam struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	Default string `json:"default"`
	Doc     string `json:"doc"`
}

type ListEntry struct {
	Name    string      `json:"name"`
	Kind    string      `json:"kind,omitempty"`
	Summary string      `json:"summary"`
	Params  []ListParam `json:"params"`
}

// attackEntries lists the registered attacks, or only those named.
func attackEntries(names []string) ([]ListEntry, error) {
	if len(names) == 0 {
		names = attack.Names()
	}
	var out []ListEntry
	for _, n := range names {
		f, ok := attack.Lookup(n)
		if !ok {
			return nil, fmt.Errorf("unknown attack %q (known: %s)", n, strings.Join(attack.Names(), ", "))
		}
		e := ListEntry{Name: strings.ToLower(n), Summary: f.Summary, Params: []ListParam{}}
		for _, p := range f.Params {
			e.Params = append(e.Params, ListParam{p.Name, p.Type, p.Default, p.Doc})
		}
		out = append(out, e)
	}
	return out, nil
}

// defenceEntries lists the registered defences, or only those named.
func defenceEntries(names []string) ([]ListEntry, error) {
	if len(names) == 0 {
		names = defend.Names()
	}
	var out []ListEntry
	for _, n := range names {
		f, ok := defend.Lookup(n)
		if !ok {
			return nil, fmt.Errorf("unknown defence %q (known: %s)", n, strings.Join(defend.Names(), ", "))
		}
		e := ListEntry{Name: strings.ToLower(n), Kind: f.Kind.String(), Summary: f.Summary, Params: []ListParam{}}
		for _, p := range f.Params {
			e.Params = append(e.Params, ListParam{p.Name, p.Type, p.Default, p.Doc})
		}
		out = append(out, e)
	}
	return out, nil
}

// writeListing writes registry entries (attacks, defences) in a format.
func writeListing(w io.Writer, format, kind string, es []ListEntry) error {
	switch format {
	case "json":
		return writeJSON(w, es)
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

// ListFormats are the formats of Attacks and Defences.
var ListFormats = []string{"text", "json", "markdown"}

// Attacks writes the registered attacks (or those named) with their
// parameters, types, defaults and docs to w in format (text, json or
// markdown).
func Attacks(w io.Writer, format string, names []string) error {
	es, err := attackEntries(names)
	if err != nil {
		return err
	}
	return writeListing(w, format, "attack", es)
}

// Defences is Attacks for the registered defences, with their kinds.
func Defences(w io.Writer, format string, names []string) error {
	es, err := defenceEntries(names)
	if err != nil {
		return err
	}
	return writeListing(w, format, "defence", es)
}

// CompleteAttackSpec completes the word toComplete of --attack
// NAME[:key=value,...] for shell completion: registered attack names
// before the colon, "NAME:…,key=" for the attack's parameters not yet given
// after it. more is true when the word goes on (a parameter's value is to
// be typed), so that the shell adds no space after it.
func CompleteAttackSpec(toComplete string) (candidates []string, more bool) {
	name, rest, hasParams := strings.Cut(toComplete, ":")
	if !hasParams {
		for _, n := range attack.Names() {
			if strings.HasPrefix(n, name) {
				candidates = append(candidates, n)
			}
		}
		return candidates, false
	}
	f, ok := attack.Lookup(name)
	if !ok {
		return nil, false
	}
	given := strings.Split(rest, ",")
	last := given[len(given)-1]
	if strings.Contains(last, "=") {
		return nil, false // a value: nothing to offer
	}
	prefix := toComplete[:len(toComplete)-len(last)]
	have := map[string]bool{}
	for _, kv := range given[:len(given)-1] {
		k, _, _ := strings.Cut(kv, "=")
		have[k] = true
	}
	for _, p := range f.Params {
		if !have[p.Name] && strings.HasPrefix(p.Name, last) {
			candidates = append(candidates, prefix+p.Name+"=")
		}
	}
	return candidates, true
}
