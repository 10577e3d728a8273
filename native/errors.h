// Errors thrown to JavaScript, shaped like Node's own system errors.
#pragma once
#include <napi.h>
#include <string>

namespace ocl {

// The errno's symbolic name ("ENOMEM"), or "E<number>" when it has none.
const char* ErrnoName(int err);

// An Error with code, errno (negative, as in Node's system errors) and syscall;
// the message names the call and what it was asked for.
Napi::Error SystemError(Napi::Env env, int err, const char* syscall, const std::string& detail);

// Argument checks shared by every exported function: each throws a TypeError or
// RangeError before any syscall is made.
int64_t ArgInteger(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t min, int64_t max);
size_t ArgLength(const Napi::CallbackInfo& info, size_t i, const char* name);

}  // namespace ocl
