package main

import (
	"testing"

	"github.com/inferflow/inferflow/internal/envflag/envflagtest"
)

func TestREADMEListsEverySetting(t *testing.T) {
	var o options
	envflagtest.CheckREADME(t, "../../README.md", "caller", 5, o.register)
}
