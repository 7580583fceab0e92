package schemaregistry

import (
	"fmt"
	"net/http"
)

// apiError is an error the REST API answers with: the HTTP status and
// Confluent's error code and message, as {"error_code":..,"message":..}.
type apiError struct {
	status int
	code   int
	msg    string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d: %s", e.code, e.msg) }

// Confluent Schema Registry's error codes.
const (
	codeSubjectNotFound            = 40401
	codeVersionNotFound            = 40402
	codeSchemaNotFound             = 40403
	codeSubjectSoftDeleted         = 40404
	codeSubjectNotSoftDeleted      = 40405
	codeVersionSoftDeleted         = 40406
	codeVersionNotSoftDeleted      = 40407
	codeSubjectCompatNotConfigured = 40408
	codeSubjectModeNotConfigured   = 40409
	codeIncompatible               = 409
	codeInvalidSchema              = 42201
	codeInvalidVersion             = 42202
	codeInvalidCompatibility       = 42203
	codeInvalidMode                = 42204
	codeOperationNotPermitted      = 42205
	codeReferenceExists            = 42206
	codeIDDoesNotMatch             = 42207
	codeInvalidSubject             = 42208
	codeSchemaTooLarge             = 42209
	codeStoreError                 = 50001
	codeTimeout                    = 50002
	codeForwardingFailed           = 50003
	codeUnknownLeader              = 50004
)

func notFound(code int, format string, args ...any) *apiError {
	return &apiError{http.StatusNotFound, code, fmt.Sprintf(format, args...)}
}

func unprocessable(code int, format string, args ...any) *apiError {
	return &apiError{http.StatusUnprocessableEntity, code, fmt.Sprintf(format, args...)}
}

func errSubjectNotFound(s string) *apiError {
	return notFound(codeSubjectNotFound, "Subject '%s' not found.", s)
}

func errVersionNotFound(v int) *apiError {
	return notFound(codeVersionNotFound, "Version %d not found.", v)
}

func errSchemaNotFound() *apiError { return notFound(codeSchemaNotFound, "Schema not found") }

func errSchemaIDNotFound(id int) *apiError {
	return notFound(codeSchemaNotFound, "Schema %d not found", id)
}

func errInvalidSchema(err error) *apiError {
	return unprocessable(codeInvalidSchema, "Invalid schema: %v", err)
}

func errInvalidVersion(v string) *apiError {
	return unprocessable(codeInvalidVersion, "The specified version '%s' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\"", v)
}

func errNotPermitted(format string, args ...any) *apiError {
	return unprocessable(codeOperationNotPermitted, format, args...)
}

func errStore(msg string) *apiError {
	return &apiError{http.StatusInternalServerError, codeStoreError, "Error in the backend data store: " + msg}
}

func errTimeout(msg string) *apiError {
	return &apiError{http.StatusInternalServerError, codeTimeout, "Operation timed out: " + msg}
}

func errBadRequest(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, http.StatusBadRequest, fmt.Sprintf(format, args...)}
}
