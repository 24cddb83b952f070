//! Runtime choice of the vector instruction set for the pair kernels.
//!
//! Kernels are written as plain loops over fixed-length lanes, which the compiler
//! vectorizes; [`multiversioned!`](crate::multiversioned) compiles each one for baseline
//! x86-64 (SSE2), AVX2 and AVX-512 and calls the best the processor has. The variants do
//! the same IEEE operations in the same order (no fused multiply-add), so they give
//! bit-identical results: the choice only changes speed. `ETWIN_SIMD=baseline|avx2|avx512`
//! (or [`set_cap`]) caps the level, for comparisons and benchmarks.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

/// Instruction-set level a kernel runs at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Baseline,
    Avx2,
    Avx512,
}

const ALL: [Level; 3] = [Level::Baseline, Level::Avx2, Level::Avx512];

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Baseline => "baseline",
            Level::Avx2 => "avx2",
            Level::Avx512 => "avx512",
        }
    }

    pub fn parse(s: &str) -> Option<Level> {
        ALL.into_iter().find(|l| l.name() == s.trim().to_ascii_lowercase())
    }
}

/// The best level this processor supports.
pub fn detected() -> Level {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512vl") {
            return Level::Avx512;
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            return Level::Avx2;
        }
    }
    Level::Baseline
}

const UNSET: u8 = u8::MAX;
static CAP: AtomicU8 = AtomicU8::new(UNSET);

/// The level kernels run at: the detected one, capped by [`set_cap`] or else by
/// `ETWIN_SIMD` (an unknown value is ignored).
pub fn level() -> Level {
    static BEST: OnceLock<Level> = OnceLock::new();
    let best = *BEST.get_or_init(detected);
    let cap = match CAP.load(Ordering::Relaxed) {
        UNSET => {
            let env = std::env::var("ETWIN_SIMD").ok().as_deref().and_then(Level::parse);
            let cap = env.unwrap_or(Level::Avx512);
            CAP.store(cap as u8, Ordering::Relaxed);
            cap
        }
        c => ALL[c as usize],
    };
    cap.min(best)
}

/// Caps the level for the rest of the process (benchmarks and comparisons).
pub fn set_cap(cap: Level) {
    CAP.store(cap as u8, Ordering::Relaxed);
}

/// Defines `fn $name(args) [-> T]` that runs `$body` compiled for the level of [`level()`].
/// The body must be safe code; it is compiled once per instruction set.
#[macro_export]
macro_rules! multiversioned {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            // The body itself in each version, not an inlined shared function: the
            // compiler simplifies a function for its own instruction set before inlining
            // it, and baseline decisions (e.g. a loop unswitched on a lane's condition)
            // then became masked loads and stores in the vector versions.
            fn body($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2")]
            fn avx2($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,avx512vl,avx2")]
            fn avx512($($arg: $ty),*) $(-> $ret)? $body
            match $crate::sim::simd::level() {
                // SAFETY: level() only reports features the processor has.
                #[cfg(target_arch = "x86_64")]
                $crate::sim::simd::Level::Avx512 => unsafe { avx512($($arg),*) },
                #[cfg(target_arch = "x86_64")]
                $crate::sim::simd::Level::Avx2 => unsafe { avx2($($arg),*) },
                _ => body($($arg),*),
            }
        }
    };
}

/// Asks the processor to bring the cache line holding `value` closer (a hint: no effect on
/// results). The force loop issues it for data a batch will gather a few dozen pairs later,
/// which in systems larger than the cache would otherwise stall on memory.
#[inline(always)]
pub fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: a prefetch never faults and the pointer comes from a live reference.
        unsafe { _mm_prefetch::<_MM_HINT_T0>((value as *const T).cast::<i8>()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}
