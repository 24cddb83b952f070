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

/// The processor, as CPUID names it: what a benchmark's figures were measured on. The
/// same instruction set can run at very different widths: AMD's first Zen cores execute
/// each 256-bit AVX2 instruction as two 128-bit halves, and there the vector kernels gain
/// much less than elsewhere (`README.md`, Benchmarks).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Processor {
    /// "GenuineIntel", "AuthenticAMD", …
    pub vendor: String,
    /// The brand string, as the processor (or the hypervisor) reports it.
    pub brand: String,
    /// Family, model and stepping, with CPUID's extended fields folded in.
    pub family: u32,
    pub model: u32,
    pub stepping: u32,
    /// Whether its vector units are 128 bits wide, so that AVX2 runs in halves (AMD family
    /// 23 below model 0x30: Zen and Zen+).
    pub half_width_avx2: bool,
}

impl Processor {
    /// The processor this runs on; `None` off x86-64.
    #[cfg(target_arch = "x86_64")]
    pub fn detect() -> Option<Processor> {
        use std::arch::x86_64::__cpuid;
        let id = __cpuid(0);
        let vendor = cpuid_text(&[id.ebx, id.edx, id.ecx]);
        let brand = if __cpuid(0x8000_0000).eax >= 0x8000_0004 {
            let regs: Vec<u32> = (0x8000_0002..=0x8000_0004u32)
                .flat_map(|leaf| {
                    let r = __cpuid(leaf);
                    [r.eax, r.ebx, r.ecx, r.edx]
                })
                .collect();
            cpuid_text(&regs)
        } else {
            String::new()
        };
        Some(Processor::from_signature(vendor, brand, __cpuid(1).eax))
    }

    /// The processor this runs on; `None` off x86-64.
    #[cfg(not(target_arch = "x86_64"))]
    pub fn detect() -> Option<Processor> {
        None
    }

    /// Decodes CPUID leaf 1's EAX (the processor signature) as Intel's and AMD's manuals do.
    pub fn from_signature(vendor: String, brand: String, eax: u32) -> Processor {
        let base_family = (eax >> 8) & 0xf;
        let family = base_family + if base_family == 0xf { (eax >> 20) & 0xff } else { 0 };
        let model = if base_family == 0x6 || base_family == 0xf {
            ((eax >> 12) & 0xf0) | ((eax >> 4) & 0xf)
        } else {
            (eax >> 4) & 0xf
        };
        let half_width_avx2 = vendor == "AuthenticAMD" && family == 23 && model < 0x30;
        Processor {
            vendor,
            brand,
            family,
            model,
            stepping: eax & 0xf,
            half_width_avx2,
        }
    }
}

impl std::fmt::Display for Processor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({} family {} model {:#x} stepping {}",
            self.brand, self.vendor, self.family, self.model, self.stepping
        )?;
        if self.half_width_avx2 {
            write!(f, "; 128-bit vector units: AVX2 runs in halves")?;
        }
        write!(f, ")")
    }
}

/// CPUID registers as the text they spell (four bytes each, low byte first), trimmed.
fn cpuid_text(regs: &[u32]) -> String {
    let bytes: Vec<u8> = regs.iter().flat_map(|r| r.to_le_bytes()).collect();
    String::from_utf8_lossy(&bytes).trim_matches(['\0', ' ']).to_string()
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

/// What the hand-written AVX-512 loops (`pair_pass/avx512`, `hertz_history/avx512`) share:
/// the check before their unchecked gathers, and the read of eight lanes' owner rows.
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512 {
    use std::arch::x86_64::*;

    /// Whether eight unsigned indices are all below `n` (< 2³¹).
    #[inline]
    #[target_feature(enable = "avx512f,avx512vl,avx2")]
    pub(crate) fn all_below(idx: __m256i, n: usize) -> bool {
        _mm256_cmpge_epu32_mask(idx, _mm256_set1_epi32(n as i32)) == 0
    }

    /// Component `a` of eight lanes' owner rows, rows of `width` f64 from `p`: where every
    /// lane's owner is `first` (`one_owner`), its row read once and broadcast, else gathered
    /// at the lanes' row offsets `rows` (owner · width). In a slurry, whose lanes come in runs
    /// of dozens per owner, most groups of eight have one owner.
    ///
    /// # Safety
    /// `first` and every owner behind `rows` must name a row of `p`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512vl,avx2")]
    pub(crate) unsafe fn owner_rows(
        p: *const f64,
        one_owner: bool,
        first: usize,
        rows: __m256i,
        width: usize,
        a: usize,
    ) -> __m512d {
        // SAFETY: the caller's rows exist.
        unsafe {
            if one_owner {
                _mm512_set1_pd(*p.add(width * first + a))
            } else {
                _mm512_i32gather_pd::<8>(rows, p.add(a))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_decode_as_the_manuals_say() {
        let amd = |eax| Processor::from_signature("AuthenticAMD".into(), "AMD EPYC".into(), eax);
        // First-generation EPYC (Naples): family 0xf + 8, model 1, stepping 2.
        let zen1 = amd(0x0080_0f12);
        assert_eq!((zen1.family, zen1.model, zen1.stepping), (23, 1, 2));
        assert!(zen1.half_width_avx2);
        assert_eq!(
            zen1.to_string(),
            "AMD EPYC (AuthenticAMD family 23 model 0x1 stepping 2; 128-bit vector units: AVX2 runs in halves)"
        );
        // Zen 2 (Rome, model 0x31) and Zen 4 (Genoa, family 25, model 0x11) are full width.
        let zen2 = amd(0x0083_0f10);
        assert_eq!((zen2.family, zen2.model, zen2.half_width_avx2), (23, 0x31, false));
        let zen4 = amd(0x00a1_0f11);
        assert_eq!((zen4.family, zen4.model, zen4.half_width_avx2), (25, 0x11, false));
        // Intel family 6 folds the extended model in too (Skylake-SP: model 0x55).
        let intel = Processor::from_signature("GenuineIntel".into(), String::new(), 0x0005_0654);
        assert_eq!(
            (intel.family, intel.model, intel.stepping, intel.half_width_avx2),
            (6, 0x55, 4, false)
        );
    }

    #[test]
    fn cpuid_text_reads_little_endian_and_trims() {
        // "AuthenticAMD" as leaf 0 returns it, in EBX, EDX, ECX.
        assert_eq!(cpuid_text(&[0x6874_7541, 0x6974_6e65, 0x444d_4163]), "AuthenticAMD");
        assert_eq!(cpuid_text(&[0x2044_4d41, 0x0000_0000]), "AMD");
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn this_processor_is_detected() {
        let p = Processor::detect().expect("CPUID on x86-64");
        assert!(!p.vendor.is_empty() && p.family >= 6, "{p:?}");
    }
}
