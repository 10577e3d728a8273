// Registration of each concern's exports, and the per-instance data the addon keeps
// (per environment, so the addon loads in worker threads too).
#pragma once
#include <napi.h>

namespace ocl {

struct AddonData {
  Napi::FunctionReference mappingConstructor;
};

void InitMapping(Napi::Env env, Napi::Object exports);
void InitRlimit(Napi::Env env, Napi::Object exports);
void InitProbe(Napi::Env env, Napi::Object exports);
void InitChild(Napi::Env env, Napi::Object exports);
void InitFiles(Napi::Env env, Napi::Object exports);

}  // namespace ocl
