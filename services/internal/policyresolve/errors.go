package policyresolve

import (
	"fmt"
	"net/http"

	"github.com/dittonats/dittonats/protocol"
)

// errDepthExceeded is Ditto's PolicyImportInvalidException for an import
// graph deeper than MaxTransitiveDepth (PolicyImporter.resolveTransitiveImports).
// Callers match it with errors.Is(err, protocol.ErrPolicyImportInvalid()),
// which compares the code.
func errDepthExceeded(policyID string) *protocol.Error {
	return protocol.NewError(http.StatusBadRequest, protocol.CodePolicyImportInvalid,
		fmt.Sprintf("The policy import graph exceeded the maximum transitive resolution depth of %d.", MaxTransitiveDepth),
		fmt.Sprintf("Resolution stopped at policy '%s'. This usually indicates a cycle across imported policies' "+
			"transitiveImports declarations or an excessively deep import chain. "+
			"Shorten the chain or break the cycle by removing one of the transitiveImports entries.", policyID))
}

// errTooLarge is returned when resolving one policy takes more than maxWork
// steps. Ditto has no such limit; see maxWork for why this package does.
func errTooLarge(policyID string) *protocol.Error {
	return protocol.NewError(http.StatusBadRequest, protocol.CodePolicyImportInvalid,
		fmt.Sprintf("The policy import graph of '%s' is too large to resolve.", policyID),
		fmt.Sprintf("Resolving it takes more than %d import resolutions and imported entries. "+
			"Reduce the number of imports or transitiveImports in the chain.", maxWork))
}
