/**
 * The C programs' executables (binding.gyp's targets, in build/Release/programs/ and in every
 * prebuild). Pure: `vm` checks a foreign prebuild with it without loading the addon.
 */
export type ProgramName = 'settings' | 'sparse' | 'rlimit' | 'ptrace' | 'malloc' | 'exec';

export const EXECUTABLES: Readonly<Record<ProgramName, string>> = {
  settings: 'ocl-settings',
  sparse: 'ocl-sparse',
  rlimit: 'ocl-rlimit',
  ptrace: 'ocl-ptrace',
  malloc: 'ocl-malloc',
  exec: 'ocl-exec',
};
