package fsm

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	murphyv1 "github.com/murphy-chaos/murphy/proto/murphy/v1"
)

// Decode unmarshals a log entry's data into a command, the inverse of Encode. It fails
// on data that is not a Command; a Command whose kind this build does not know decodes
// with a nil Cmd, which Apply refuses by panicking (see the package doc).
func Decode(data []byte) (*murphyv1.Command, error) {
	var cmd murphyv1.Command
	if err := proto.Unmarshal(data, &cmd); err != nil {
		return nil, fmt.Errorf("decode command: %w", err)
	}
	return &cmd, nil
}
