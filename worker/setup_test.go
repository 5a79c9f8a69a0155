package main

import (
	"context"
	"errors"
	"strings"
	"testing"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"google.golang.org/grpc"

	"github.com/inferflow/inferflow/workflows"
)

// fakeOps answers the two calls ensureSearchAttributes makes.
type fakeOps struct {
	operatorservice.OperatorServiceClient // other methods: not called
	listErr, addErr                       error
	have                                  []string
	added                                 map[string]enumspb.IndexedValueType
}

func (f *fakeOps) ListSearchAttributes(context.Context, *operatorservice.ListSearchAttributesRequest, ...grpc.CallOption) (*operatorservice.ListSearchAttributesResponse, error) {
	if f.listErr != nil {
		return nil, f.listErr
	}
	custom := map[string]enumspb.IndexedValueType{}
	for _, n := range f.have {
		custom[n] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
	}
	return &operatorservice.ListSearchAttributesResponse{CustomAttributes: custom}, nil
}

func (f *fakeOps) AddSearchAttributes(_ context.Context, req *operatorservice.AddSearchAttributesRequest, _ ...grpc.CallOption) (*operatorservice.AddSearchAttributesResponse, error) {
	if f.addErr != nil {
		return nil, f.addErr
	}
	f.added = req.GetSearchAttributes()
	return &operatorservice.AddSearchAttributesResponse{}, nil
}

func TestEnsureSearchAttributes(t *testing.T) {
	var all []string
	for _, k := range workflows.SearchAttributes {
		all = append(all, k.GetName())
	}
	denied := serviceerror.NewPermissionDenied("operator API not allowed for this API key", "")
	tests := []struct {
		name    string
		ops     *fakeOps
		wantErr bool
		warned  bool
		added   int
	}{
		{"all there", &fakeOps{have: all}, false, false, 0},
		{"missing ones are added", &fakeOps{have: all[:1]}, false, false, len(all) - 1},
		{"cannot list (Cloud API key): warn and start", &fakeOps{listErr: denied}, false, true, 0},
		{"cannot list (unimplemented): warn and start", &fakeOps{listErr: serviceerror.NewUnimplemented("no")}, false, true, 0},
		{"known missing and cannot add: refuse", &fakeOps{have: all[:1], addErr: denied}, true, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var warning string
			err := ensureSearchAttributes(context.Background(), tt.ops, "ns", func(msg string, err error) { warning = msg + ": " + err.Error() })
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if (warning != "") != tt.warned {
				t.Fatalf("warning %q, want one: %v", warning, tt.warned)
			}
			if tt.warned {
				for _, want := range append([]string{"ns"}, all...) {
					if !strings.Contains(warning, want) {
						t.Errorf("warning %q does not name %q", warning, want)
					}
				}
			}
			if len(tt.ops.added) != tt.added {
				t.Errorf("added %v, want %d", tt.ops.added, tt.added)
			}
		})
	}
	// A cancelled start is not a permission problem.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := ensureSearchAttributes(ctx, &fakeOps{listErr: context.Canceled}, "ns", func(string, error) { t.Error("warned on cancellation") })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v", err)
	}
}
