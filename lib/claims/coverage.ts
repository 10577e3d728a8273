/**
 * The coverage inventory: every sentence of the five documents (as sentences.ts splits them), in
 * document order, with the claims that test it ('experiment/claim') or the reason it is not
 * tested. A test splits the documents (../shared/seeds) and walks each one against its entries,
 * so a sentence left out, an entry whose text is not the document's, a claim id that does not
 * exist, or a claim with no sentence in the document it cites, fails it. The sentences are kept
 * here so that `overcommit-lab list --coverage` works without the documents.
 */

import { mappingKinds as KINDS } from '../experiments/accounting/evidence.js';
import { DOC_000, DOC_001, DOC_002, DOC_003, DOC_004 } from '../experiments/documents.js';
import { block, type DocumentCoverage, m, x } from './coverage-entry.js';

export type { CoverageEntry, DocumentCoverage, Exclusion } from './coverage-entry.js';

const NORESERVE = KINDS.map((k) => `accounting/noreserve-${k}`);
const NORESERVE_IGNORED = KINDS.map((k) => `accounting/noreserve-ignored-${k}`);
const TABLE = {
  m0no: 'mode-matrix/table-mode0-noreserve-no',
  m0yes: 'mode-matrix/table-mode0-noreserve-yes',
  m1no: 'mode-matrix/table-mode1-noreserve-no',
  m1yes: 'mode-matrix/table-mode1-noreserve-yes',
  m2no: 'mode-matrix/table-mode2-noreserve-no',
  m2yes: 'mode-matrix/table-mode2-noreserve-yes',
};
const COW = {
  shares: 'copy-on-write/fork-shares-pages',
  doubles: 'copy-on-write/fork-doubles-virtual-not-physical',
};
const LATE = 'oom-late-failure/overcommit-late-sigkill';
const IMMEDIATE = 'oom-late-failure/mode2-allocations-fail-immediately';
const Q2 = 'oom-late-failure/q2-overcommit-works-until-all-touch';
const FIRST_TOUCH = 'sparse-array/memory-taken-on-first-touch';
const READS_MODE = 'settings/settings-program-reads-mode';
const MALLOC_AT_CALL = 'malloc-failure/mode2-malloc-fails-at-call';

const doc000: DocumentCoverage = {
  source: DOC_000,
  layout: { layout: 'lines' },
  entries: [
    m(
      "**TL;DR** : c'est un setting du kernel Linux modifiable via `/proc/sys/vm/overcommit_memory` autorisant ou non à allouer plus de mémoire virtuelle que de mémoire physique.",
      'mode-matrix/mode1-99-times-virtual',
      TABLE.m2no,
    ),
    m(
      "C'est lié à la différence entre mémoire virtuelle et mémoire physique : on peut très bien ne disposer que d'1 Gio de mémoire physique, et allouer 99 Gio de mémoire virtuelle (j'avais même fait une POC là-dessus ; dans ce cas, c'est juste que 98Gio de cette mémoire ne sera jamais backée par de la mémoire physique, ce qui n'est pas forcément embêtant, p.ex. si elle n'est jamais utilisée).",
      'mode-matrix/mode1-99-times-virtual',
      'zero-pages/sparse-virtual-memory-is-zero-pages',
    ),
    m(
      "Au moment d'allouer de la mémoire virtuelle, le kernel peut checker s'il aura assez de mémoire physique pour backer la mémoire virtuelle qu'on essaye d'allouer ; `overcommit_memory` contrôle ce check.",
      TABLE.m0no,
      TABLE.m1no,
      TABLE.m2no,
    ),
    x('link', 'https://serverfault.com/a/606193'),
    m(
      'The simple answer is that setting overcommit to 1, will set the stage so that when a program calls something like malloc() to allocate a chunk of memory (man 3 malloc), it will always succeed regardless if the system knows it will not have all the memory that is being asked for.',
      'mode-matrix/mode1-malloc-always-succeeds',
    ),
    x('framing', 'The underlying concept to understand is the idea of virtual memory.'),
    m('Programs see a virtual address space that may, or may not, be mapped to actual physical memory.', FIRST_TOUCH),
    m(
      'By disabling overcommit checking, you tell the OS to just assume that there is always enough physical memory to backup the virtual space.',
      TABLE.m1no,
    ),
    x('heading', 'Doc et usage'),
    x('not about the kernel', 'La doc est dans `man 5 proc` :', 'where the manual is'),
    x('not about the kernel', "`man 5` = c'est une page de man d'un format de fichier", 'the manual'),
    x(
      'not about the kernel',
      '`/proc` = _The proc filesystem is a pseudo-filesystem which provides an interface to kernel data structures_',
      'the manual; every experiment reads /proc',
    ),
    x('not about the kernel', "`man 5 proc` = le man explique ce qu'on trouve sous `/proc`", 'the manual'),
    x('not about the kernel', 'Du coup, `man 5 proc` explique `/proc/sys/vm/overcommit_memory` :', 'the manual'),
    m('`0` = une heuristique décide si le kernel checke', TABLE.m0no),
    m(
      '`1` = le kernel ne checke jamais (et autorise systématiquement à allouer une mémoire virtuelle dépassant la capacité de la mémoire physique)',
      TABLE.m1no,
      'mode-matrix/mode1-99-times-virtual',
    ),
    m('`2` = le kernel checke systématiquement', TABLE.m2no, 'redis-server/redis-bgsave-mode2-enomem'),
    x('heading', 'Par exemple :'),
    block('sudo su -', 'echo 1 > /proc/sys/vm/overcommit_memory', 2, {
      excused: 'code',
      why: 'how to switch the mode, as the settings guard does',
    }),
    x('heading', "Cas d'usage où on peut vouloir overcommit_memory=1"),
    x('not about the kernel', 'redis a sa DB in-memory, et sauvegarde sa DB sur disque en tâche de fond.', 'how Redis works'),
    m(
      'pour faire ça, redis forke le process, ce qui a pour effet de doubler la mémoire virtuelle nécessaire, mais pas nécessairement la mémoire physique :',
      COW.doubles,
    ),
    m(
      'avec le mécanisme de copy-on-write, les pages ne sont dupliquées que si le fork (ou le process original) écrit dessus',
      COW.shares,
      'redis-server/redis-cow-written-pages',
    ),
    m(
      "si personne n'écrit sur la DB le temps que le fork finisse de pérenniser la DB sur disque, le copy-on-write fait que le fork n'aura pas nécessité de mémoire physique supplémentaire, yay \\o/",
      COW.shares,
      COW.doubles,
    ),
    m(
      "à l'inverse, dans le cas extrême où quelqu'un aura écrit sur TOUTES les pages de RAM utilisées par la DB, le copy-on-write n'aura servi à rien",
      'copy-on-write/all-pages-written-cow-saves-nothing',
    ),
    x('opinion', "et dans le cas (que j'imagine le plus probable) :", 'which case is likely'),
    m(
      "la majorité des pages n'aura pas été modifiée (donc le COW fera qu'on aura pérennisé ces pages sur disque en background sans nécessiter de RAM supplémentaire)",
      COW.shares,
    ),
    m(
      'une petite partie des pages aura été modifiée, donc copiées en RAM : le process original aura modifié ces pages, et le fork aura pérennisé la copie originale',
      COW.shares,
    ),
    x('link', 'https://redis.io/docs/getting-started/faq/#background-saving-fails-with-a-fork-error-on-linux'),
    m(
      'The Redis background saving schema relies on the copy-on-write semantic of the fork system call in modern operating systems: Redis forks (creates a child process) that is an exact copy of the parent.',
      COW.shares,
    ),
    x('not about the kernel', 'The child process dumps the DB on disk and finally exits.', 'what Redis does'),
    m(
      'In theory the child should use as much memory as the parent being a copy, but actually thanks to the copy-on-write semantic implemented by most modern operating systems the parent and child process will share the common memory pages.',
      COW.shares,
      COW.doubles,
    ),
    m('A page will be duplicated only when it changes in the child or in the parent.', COW.shares, 'redis-server/redis-cow-written-pages'),
    m(
      "Since in theory all the pages may change while the child process is saving, Linux can't tell in advance how much memory the child will take, so if the overcommit_memory setting is set to zero the fork will fail unless there is as much free RAM as required to really duplicate all the parent memory pages.",
      'redis-fork/mode0-fork-fails-without-free-ram',
      'redis-server/redis-bgsave-mode0-free-ram',
    ),
    m(
      'If you have a Redis dataset of 3 GB and just 2 GB of free memory it will fail.',
      'redis-fork/mode0-fork-fails-without-free-ram',
      'redis-server/redis-bgsave-mode0-free-ram',
    ),
    m(
      'Setting overcommit_memory to 1 tells Linux to relax and perform the fork in a more optimistic allocation fashion, and this is indeed what you want for Redis.',
      'redis-fork/mode1-fork-succeeds',
      'redis-server/redis-bgsave-mode1',
      'redis-server/redis-overcommit-warning',
    ),
  ],
};

const doc001: DocumentCoverage = {
  source: DOC_001,
  layout: { layout: 'wrapped' },
  entries: [
    x('heading', 'The Linux kernel supports the following overcommit handling modes'),
    m('0 - Heuristic overcommit handling.', 'mode-matrix/obvious-overcommits-refused'),
    m('Obvious overcommits of address space are refused.', 'mode-matrix/obvious-overcommits-refused'),
    x('recommendation', 'Used for a typical system.'),
    m(
      'It ensures a seriously wild allocation fails while allowing overcommit to reduce swap usage.',
      'mode-matrix/obvious-overcommits-refused',
      TABLE.m0no,
    ),
    m('root is allowed to allocate slightly more memory in this mode.', 'mode-matrix/root-allocates-slightly-more'),
    x(
      'not observable',
      'This is the default.',
      'the mode a kernel boots with: a run sees the mode in force, which anyone may have set since boot',
    ),
    m('1 - Always overcommit.', TABLE.m1no, TABLE.m1yes),
    x('recommendation', 'Appropriate for some scientific applications.'),
    m(
      'Classic example is code using sparse arrays and just relying on the virtual memory consisting almost entirely of zero pages.',
      'zero-pages/sparse-virtual-memory-is-zero-pages',
    ),
    m("2 - Don't overcommit.", TABLE.m2no),
    m(
      'The total address space commit for the system is not permitted to exceed swap + a configurable amount (default is 50%) of physical RAM.',
      'commit-limit/default-50-percent-of-ram',
    ),
    m(
      'Depending on the amount you use, in most situations this means a process will not be killed while accessing pages but will receive errors on memory allocation as appropriate.',
      IMMEDIATE,
    ),
    x(
      'recommendation',
      'Useful for applications that want to guarantee their memory allocations will be available in the future without having to initialize every page.',
    ),
    m("The overcommit policy is set via the sysctl `vm.overcommit_memory'.", READS_MODE),
    m(
      "The overcommit amount can be set via `vm.overcommit_ratio' (percentage) or `vm.overcommit_kbytes' (absolute value).",
      'commit-limit/ratio-or-kbytes',
      'commit-limit/limit-follows-kbytes',
      'settings/commit-limit-ratio-or-kbytes',
    ),
    m(
      'The current overcommit limit and amount committed are viewable in /proc/meminfo as CommitLimit and Committed_AS respectively.',
      'settings/commit-counters-in-meminfo',
    ),
    m('The C language stack growth does an implicit mremap.', 'accounting/stack-growth'),
    x(
      'recommendation',
      'If you want absolute guarantees and run close to the edge you MUST mmap your stack for the largest size you think you will need.',
    ),
    x('opinion', "For typical stack usage this does not matter much but it's a corner case if you really really care"),
    m(
      'In mode 2 the MAP_NORESERVE flag is ignored.',
      'sparse-array/noreserve-ignored-in-mode-2',
      'mode-matrix/mode2-noreserve-ignored',
      ...NORESERVE_IGNORED,
    ),
    x('heading', 'How It Works'),
    x('heading', 'The overcommit is based on the following rules'),
    x('heading', 'For a file backed map'),
    m('SHARED or READ-only - 0 cost (the file is the map not swap)', 'accounting/cost-file-shared-rw', 'accounting/cost-file-private-ro'),
    m('PRIVATE WRITABLE - size of mapping per instance', 'accounting/cost-file-private-rw'),
    x('heading', 'For an anonymous or /dev/zero map'),
    m('SHARED - size of mapping', 'accounting/cost-anon-shared-rw', 'accounting/cost-anon-shared-ro'),
    m('PRIVATE READ-only - 0 cost (but of little use)', 'accounting/cost-anon-private-ro'),
    m('PRIVATE WRITABLE - size of mapping per instance', 'accounting/cost-anon-private-rw'),
    x('heading', 'Additional accounting'),
    m('Pages made writable copies by mmap', 'accounting/writable-copies'),
    m('shmfs memory drawn from the same pool', 'accounting/shmfs-same-pool'),
    m('We account mmap memory mappings', 'accounting/cost-anon-private-rw', 'accounting/cost-file-private-rw'),
    m('We account mprotect changes in commit', 'accounting/mprotect'),
    m('We account mremap changes in size', 'accounting/mremap'),
    m('We account brk', 'accounting/brk'),
    m('We account munmap', 'accounting/munmap'),
    m('We report the commit status in /proc', 'settings/commit-counters-in-meminfo'),
    m('Account and check on fork', 'fork-inheritance/fork-accounted', 'redis-fork/mode2-fork-checked'),
    m('Review stack handling/building on exec', 'exec-stack/exec-stack-accounted'),
    m('SHMfs accounting', 'accounting/shmfs-same-pool'),
    m('Implement actual limit enforcement', 'commit-limit/limit-follows-ratio', TABLE.m2no),
    x('heading', 'To Do'),
    m('Account ptrace pages (this is hard)', 'ptrace-pages/ptrace-pages-not-accounted', 'ptrace-pages/ptrace-pages-pass-commit-limit'),
  ],
};

const doc002: DocumentCoverage = {
  source: DOC_002,
  layout: { layout: 'lines' },
  entries: [
    m('The Linux kernel has a feature where you can tune the behavior of memory allocations: the vm.overcommit_memory sysctl.', READS_MODE),
    m(
      'When overcommit is enabled (sadly, this is the default), the kernel will typically return a mapping when brk(2) or mmap(2) is called to increase a program’s heap size, regardless of whether or not memory is available.',
      LATE,
      'mode-matrix/mode1-malloc-always-succeeds',
    ),
    x('question', 'Sounds good, right?'),
    x('opinion', 'Not really.'),
    m(
      'While overcommit is convenient for application developers, it fundamentally changes the contract of memory allocation: a successful allocation no longer represents an atomic acquisition of a real resource.',
      FIRST_TOUCH,
    ),
    m(
      'Instead, the returned mapping serves as a deferred promise, which will only be fulfilled by the page fault handler if and when the memory is first accessed.',
      FIRST_TOUCH,
    ),
    m(
      'This is an important distinction, as it means overcommit effectively replaces a fail-fast transactional allocation model with a best-effort one where failures are only caught after the fact rather than at the point of allocation.',
      LATE,
    ),
    x(
      'framing',
      'To understand how this deferral works in practice, let’s consider what happens when a program calls malloc(3) to get a new memory allocation.',
    ),
    m(
      'At a high level, the allocator calls brk(2) or mmap(2) to request additional virtual address space from the kernel, which is represented by virtual memory area objects, also known as VMAs.',
      'malloc-failure/malloc-calls-brk-or-mmap',
    ),
    m(
      'On a system where overcommit is disabled, the kernel ensures that enough backing memory is available to satisfy the request before allowing the allocation to succeed.',
      IMMEDIATE,
    ),
    m(
      'In contrast, when overcommit is enabled, the kernel simply allocates a VMA object without guaranteeing that backing memory is available: the mapping succeeds immediately, even though it is not known whether the request can ultimately be satisfied.',
      LATE,
      TABLE.m1no,
    ),
    m('The decoupling of success from backing memory availability makes allocation failures impossible to handle correctly.', LATE),
    m(
      'Programs have no other option but to assume the allocation has succeeded before the kernel has actually determined whether the request can be fulfilled.',
      LATE,
    ),
    m(
      'Disabling overcommit solves this problem by restoring admission control at allocation time, ensuring that allocations either fail immediately or succeed with a guarantee of backing memory.',
      IMMEDIATE,
    ),
    x('heading', 'Failure locality is important for debugging'),
    m('When allocations fail fast, they are dramatically easier to debug, as the failure is synchronous with the request.', MALLOC_AT_CALL),
    m(
      'When a program crashes due to an allocation failure, the entire context of that allocation is preserved: the requested allocation size, the subsystem making the allocation and the underlying operation that required it are already known.',
      MALLOC_AT_CALL,
    ),
    m('With overcommit, this locality is lost by design.', 'malloc-failure/overcommit-malloc-failure-not-local'),
    m('Allocations appear to succeed and the program proceeds under the assumption that the memory is available.', LATE),
    m(
      'When the allocation is eventually accessed, the kernel typically responds by invoking the OOM killer and terminating the process outright.',
      LATE,
    ),
    m('From the program’s perspective, there is no allocation failure to handle, only a SIGKILL .', LATE),
    x('not about the kernel', 'From the operator’s perspective, there is no stack trace pointing to the failure.', "operators' tooling"),
    x('opinion', 'There are only post-mortem logs which often fail to paint a clear picture of what happened.'),
    x('question', 'Would you rather debug a crash at the allocation site or reconstruct an outage caused by an asynchronous OOM kill?'),
    x('opinion', 'Overcommit doesn’t make allocation failure recoverable.'),
    x('opinion', 'It makes it unreportable.'),
    x('heading', 'Dishonorable mention: Redis'),
    x('not about the kernel', 'continue reading', "the page's link to the rest of the essay"),
  ],
};

const doc003: DocumentCoverage = {
  source: DOC_003,
  layout: {
    layout: 'wrapped',
    standalone: ['Memory Mappings 1039', '[swap size] + [RAM size] * overcommit_ratio / 100', 'The OOM killer'],
  },
  entries: [
    x('heading', 'Memory Mappings 1039', "the book's running head and page number"),
    m(
      'Denying obvious overcommits means that new mappings whose size doesn’t exceed the amount of currently available free memory are permitted.',
      'mode-matrix/heuristic-limit-is-free-memory',
      'mode-matrix/mode0-rule-in-force',
      'redis-server/redis-bgsave-mode0-rule',
    ),
    m(
      'Existing allocations may be overcommitted (since they may not be using all of the pages that they mapped).',
      'mode-matrix/heuristic-limit-is-free-memory',
    ),
    m(
      'Since Linux 2.6, a value of 1 has the same meaning as a positive value in earlier kernels, but the value 2 (or greater) causes strict overcommitting to be employed.',
      TABLE.m2no,
    ),
    m(
      'In this case, the kernel performs strict accounting on all mmap() allocations and limits the system-wide total of all such allocations to be less than or equal to:',
      'settings/commit-limit-swap-plus-ratio-of-ram',
      'commit-limit/limit-follows-ratio',
    ),
    m(
      '[swap size] + [RAM size] * overcommit_ratio / 100',
      'settings/commit-limit-swap-plus-ratio-of-ram',
      'commit-limit/limit-follows-ratio',
    ),
    m(
      'The overcommit_ratio value is an integer—expressing a percentage—contained in the Linux-specific /proc/sys/vm/overcommit_ratio file.',
      READS_MODE,
      'commit-limit/limit-follows-ratio',
    ),
    m(
      'The default value contained in this file is 50, meaning that the kernel can overallocate up to 50% of the size of the system’s RAM, and this will be successful, as long as not all processes try to use their full allocation.',
      'settings/default-ratio-50',
      'commit-limit/default-50-percent-of-ram',
    ),
    m('Note that overcommit monitoring comes into play only for the following types of mappings:', 'accounting/charged-kinds'),
    m(
      'private writable mappings (both file and anonymous mappings), for which the swap “cost” of the mapping is equal to the size of the mapping for each process that employs the mapping; and',
      'accounting/charged-kinds',
      'fork-inheritance/private-writable-charged-per-process',
    ),
    m(
      'shared anonymous mappings, for which the swap “cost” of the mapping is the size of the mapping (since all processes share that mapping).',
      'accounting/charged-kinds',
      'accounting/cost-anon-shared-rw',
    ),
    m(
      'Reserving swap space for a read-only private mapping is unnecessary: since the contents of the mapping can’t be modified, there is no need to employ swap space.',
      'accounting/cost-anon-private-ro',
      'accounting/cost-file-private-ro',
    ),
    m(
      'Swap space is also not required for shared file mappings, because the mapped file itself acts as the swap space for the mapping.',
      'accounting/cost-file-shared-rw',
    ),
    m(
      'When a child process inherits a mapping across a fork(), it inherits the MAP_NORESERVE setting for the mapping.',
      'fork-inheritance/child-inherits-noreserve',
    ),
    x(
      'not about the kernel',
      'The MAP_NORESERVE flag is not specified in SUSv3, but it is supported on a few other UNIX implementations.',
      'standards and other systems',
    ),
    x(
      'framing',
      'In this section, we have discussed how a call to mmap() may fail to increase the address space of a process because of the system limitations on RAM and swap space.',
      "a summary of the section's sentences above",
    ),
    m(
      'A call to mmap() can also fail because it encounters the per-process RLIMIT_AS resource limit (described in Section 36.3), which places an upper limit on the size of the address space of the calling process.',
      'rlimit-as/mmap-fails-on-rlimit-as',
    ),
    x('heading', 'The OOM killer'),
    m(
      'Above, we noted that when we employ lazy swap reservation, memory may become exhausted if applications attempt to employ the entire range of their mappings.',
      'oom-late-failure/oom-killer-relieves-exhaustion',
    ),
    m('In this case, the kernel relieves memory exhaustion by killing processes.', 'oom-late-failure/oom-killer-relieves-exhaustion'),
    x(
      'framing',
      'The kernel code dedicated to selecting a process to kill when memory is exhausted is commonly known as the out-of-memory (OOM) killer.',
      'a name',
    ),
    m(
      'The OOM killer tries to choose the best process to kill in order to relieve the memory exhaustion, where “best” is determined by a range of factors.',
      'oom-victim/oom-victim-best-by-factors',
    ),
    m(
      'For example, the more memory a process is consuming, the more likely it will be a candidate for the OOM',
      'oom-victim/oom-victim-largest',
    ),
  ],
};

const doc004: DocumentCoverage = {
  source: DOC_004,
  layout: { layout: 'lines' },
  entries: [
    x('heading', 'The Problem: Sparse Large Mappings'),
    x(
      'not about the kernel',
      'Some applications create very large memory mappings but only touch a small fraction of the mapped pages.',
      'what applications do',
    ),
    m(
      'A scientific simulation might allocate a 1 GB array but only access a few scattered elements โ called a sparse array.',
      'sparse-array/program-is-sparse',
    ),
    x(
      'framing',
      'If the kernel immediately reserved swap space for every byte of such a mapping, most of that swap space would sit unused.',
      'a hypothetical the next sentence answers',
    ),
    m(
      'Linux solves this with lazy swap reservation โ swap space is reserved only when a page is actually accessed.',
      'sparse-array/swap-reserved-on-access',
    ),
    m('With lazy reservation, the total virtual memory allocated by all processes can exceed physical RAM + swap.', Q2, TABLE.m1yes),
    m('This works as long as not all processes try to access all their mapped pages simultaneously.', Q2),
    m('If they do, memory becomes exhausted and the OOM killer steps in.', Q2, 'oom-late-failure/oom-killer-relieves-exhaustion'),
    m(
      'You can explicitly request that the kernel not reserve swap space for a mapping by passing MAP_NORESERVE to mmap().',
      'sparse-array/noreserve-no-swap-reservation',
      ...NORESERVE,
    ),
    m('This is the overcommit “opt-in” at the per-mapping level.', TABLE.m0yes),
    block('/* Create a 1 GB sparse mapping โ no swap reservation */', '/* mmap() succeeds even if 1GB swap is unavailable */', 5, {
      claims: ['sparse-array/noreserve-no-swap-reservation', 'sparse-array/sparse-mmap-succeeds-without-swap'],
    }),
    m(
      'Without MAP_NORESERVE, whether the kernel reserves swap depends on the system-wide /proc/sys/vm/overcommit_memory setting.',
      TABLE.m0no,
      TABLE.m1no,
      TABLE.m2no,
    ),
    m(
      'Fork behavior: When a child process inherits a mapping across fork(), it inherits the MAP_NORESERVE setting for that mapping.',
      'fork-inheritance/fork-inherits-noreserve-q7',
    ),
    x('heading', '| Value | MAP_NORESERVE = No | MAP_NORESERVE = Yes | Notes |'),
    m('| 0 (default) | Deny obvious overcommits | Allow overcommits | Heuristic check: small overcommits pass |', TABLE.m0no, TABLE.m0yes),
    m('| 1 | Always allow overcommits | Always allow overcommits | No check. Best for sparse workloads |', TABLE.m1no, TABLE.m1yes),
    m('| 2 (strict) | Strict accounting for ALL mappings | Total โค swap + RAM * overcommit_ratio/100 | |', TABLE.m2no, TABLE.m2yes),
    x('heading', 'Read the current value:'),
    x('code', 'cat /proc/sys/vm/overcommit_memory', 'a command (the settings program reads the same file)'),
    m('cat /proc/sys/vm/overcommit_ratio /* default: 50 */', 'settings/default-ratio-50'),
    x('heading', 'Set the value (as root):'),
    block('echo 1 > /proc/sys/vm/overcommit_memory /* allow all */', 'echo 2 > /proc/sys/vm/overcommit_memory /* strict mode */', 2, {
      excused: 'code',
      why: 'commands; the modes they set are judged by the mode-matrix claims',
    }),
    m('echo 70 > /proc/sys/vm/overcommit_ratio /* allow 70% of RAM overhead */', 'commit-limit/limit-follows-ratio'),
    x('question', 'What types of mappings are counted under strict overcommitting?'),
    m(
      'Private writable mappings (file-backed or anonymous) โ cost = mapping size per process',
      'accounting/charged-kinds',
      'fork-inheritance/private-writable-charged-per-process',
    ),
    m('Shared anonymous mappings โ cost = mapping size (shared among all processes)', 'accounting/cost-anon-shared-rw'),
    x('question', 'What is NOT counted?'),
    m('Read-only private mappings โ contents can’t be modified, no swap needed', 'accounting/not-counted'),
    m('Shared file mappings โ the file itself serves as backing store', 'accounting/not-counted'),
    m(
      'Independent of overcommit settings, a per-process resource limit RLIMIT_AS caps the total virtual address space of a process.',
      'rlimit-as/rlimit-as-independent-of-overcommit',
      'rlimit-as/rlimit-as-mmap-enomem',
    ),
    m(
      'Any mmap() or brk() that would push the process beyond this limit returns ENOMEM.',
      'rlimit-as/rlimit-as-mmap-enomem',
      'rlimit-as/rlimit-as-brk-enomem',
    ),
    block('#include <sys/resource.h>', 'setrlimit(RLIMIT_AS, &lim);', 10, {
      excused: 'code',
      why: 'reads and sets RLIMIT_AS; what the limit does is judged by the rlimit-as claims',
    }),
    x('heading', 'Or check from the shell:'),
    block('ulimit -v # virtual memory limit in KB', 'ulimit -v 524288 # set 512 MB limit', 2, {
      excused: 'code',
      why: "the shell's way to RLIMIT_AS",
    }),
    block('#define _GNU_SOURCE', 'munmap(arr, ARRAY_SIZE * sizeof(int));', 24, {
      claims: [
        'sparse-array/program-is-sparse',
        'sparse-array/noreserve-no-swap-reservation',
        'sparse-array/sparse-mmap-succeeds-without-swap',
        'sparse-array/only-touched-pages-use-memory',
      ],
    }),
    block('#include <stdio.h>', 'default: printf("Mode: Unknown\\n"); break;', 26, { claims: [READS_MODE] }),
    block('#define _GNU_SOURCE', 'munmap(p, 8 * 1024 * 1024);', 28, { claims: ['rlimit-as/rlimit-program-64mb'] }),
    x('question', 'What is lazy swap reservation and why does Linux use it?'),
    m(
      'A: Lazy swap reservation means the kernel reserves swap space for a mapped page only when that page is first accessed (on page fault), not when mmap() is called.',
      FIRST_TOUCH,
    ),
    m(
      'Linux uses it to allow sparse large mappings without wasting swap space, and to allow total virtual allocations to exceed physical RAM + swap.',
      'sparse-array/sparse-mmap-succeeds-without-swap',
      Q2,
    ),
    x('question', 'What is swap overcommitting?'),
    m('A: It means the total virtual memory promised to all processes exceeds the total physical RAM plus swap available.', Q2),
    m('This works as long as not all processes need their full allocation simultaneously.', Q2),
    m('If they do, the OOM killer terminates processes.', Q2),
    x('question', 'What does MAP_NORESERVE do?'),
    m(
      'A: MAP_NORESERVE tells the kernel not to reserve swap space at mmap() time for this mapping.',
      'sparse-array/noreserve-no-swap-reservation',
      ...NORESERVE,
    ),
    m('Swap will only be reserved as pages are actually accessed.', 'sparse-array/swap-reserved-on-access'),
    m(
      'Under overcommit_memory=0, specifying MAP_NORESERVE allows the overcommit that would otherwise be denied.',
      'mode-matrix/q3-noreserve-allows-denied-overcommit',
    ),
    x('question', 'What are the three values of overcommit_memory?'),
    m('A: 0 = heuristic mode (deny obvious overcommits, but some are allowed).', TABLE.m0no),
    m('1 = always allow all overcommits.', TABLE.m1no, TABLE.m1yes),
    m('2 = strict mode โ total allocations must stay within [swap + RAM * ratio/100].', 'settings/strict-total-swap-plus-ram-ratio'),
    x('question', 'What types of mappings are NOT subject to strict overcommit accounting?'),
    m(
      'A: Read-only private mappings (no swap needed since contents can’t change) and shared file mappings (the file itself is the backing store).',
      'accounting/not-counted',
    ),
    x('question', 'What is RLIMIT_AS and how is it different from overcommit limits?'),
    m('A: RLIMIT_AS is a per-process resource limit on total virtual address space.', 'rlimit-as/rlimit-as-mmap-enomem'),
    m('Overcommit limits are system-wide and concern swap/RAM.', 'settings/strict-total-swap-plus-ram-ratio'),
    m(
      'RLIMIT_AS enforces per-process VA space limits independent of physical memory availability.',
      'rlimit-as/rlimit-as-independent-of-overcommit',
    ),
    x('question', 'Does a child process inherit MAP_NORESERVE from its parent?'),
    m('A: Yes.', 'fork-inheritance/fork-inherits-noreserve-q7'),
    m(
      'When a child is created via fork(), it inherits the MAP_NORESERVE setting of each mapping.',
      'fork-inheritance/fork-inherits-noreserve-q7',
    ),
    x('question', 'What is overcommit_ratio and what is its default?'),
    m('A: overcommit_ratio is an integer percentage stored in /proc/sys/vm/overcommit_ratio.', READS_MODE),
    m('It defines what fraction of RAM can be overcommitted under strict mode (overcommit_memory=2).', 'commit-limit/limit-follows-ratio'),
    m('The default is 50, meaning up to 50% of RAM size can be over-allocated beyond swap.', 'settings/default-ratio-50'),
  ],
};

/** The inventory, one document after the other. */
export const coverage: readonly DocumentCoverage[] = [doc000, doc001, doc002, doc003, doc004];
