// Errors thrown to JavaScript, shaped like Node's own system errors.
#pragma once
#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace ocl {

// The errno's symbolic name ("ENOMEM"), or "E<number>" when it has none.
const char* ErrnoName(int err);

// An Error with code, errno (negative, as in Node's system errors) and syscall;
// the message names the call and what it was asked for.
Napi::Error SystemError(Napi::Env env, int err, const char* syscall, const std::string& detail);

// An Error with a code of the addon's own ("ERR_MAPPING_UNMAPPED"), for misuse no syscall reports.
Napi::Error CodedError(Napi::Env env, const char* code, const std::string& message);

// Errors for arguments, coded as the TypeScript layer's (lib/native/validate.ts) and Node's own:
// a TypeError with code ERR_INVALID_ARG_TYPE, a RangeError with code ERR_OUT_OF_RANGE.
Napi::Error ArgTypeError(Napi::Env env, const std::string& message);
Napi::Error ArgRangeError(Napi::Env env, const std::string& message);

// Argument checks shared by every exported function: each throws a TypeError or
// RangeError before any syscall is made. `what` names the value in the message.
int64_t CheckInteger(Napi::Env env, Napi::Value v, const std::string& what, int64_t min, int64_t max);
int64_t ArgInteger(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t min, int64_t max);
size_t ArgLength(const Napi::CallbackInfo& info, size_t i, const char* name);

// mmap arguments the addon accepts, for mmap() and runChild's mmap step alike: no write-only
// protection; no flag but SHARED or PRIVATE (exactly one), ANONYMOUS, NORESERVE, POPULATE
// (MAP_FIXED and friends could map over memory Node is using); an anonymous mapping takes no fd
// nor offset, a file mapping needs an fd; the offset is a multiple of the page size. `what`
// prefixes the message ("step.").
void CheckMmapArgs(Napi::Env env, int64_t prot, int64_t flags, int64_t fd, int64_t offset,
                   const std::string& what);

}  // namespace ocl
