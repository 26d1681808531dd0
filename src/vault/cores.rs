//! Work spread over the machine's cores, its results kept in order.

use std::num::NonZero;

/// `f` applied to each of `items`, on up to as many threads as the machine has cores (at most
/// eight), each thread taking a contiguous run of at least `min_run` items; the results come
/// back in the order of `items`. With fewer items everything runs on the calling thread.
pub(super) fn map_in_order<T: Send, U: Send>(
    items: Vec<T>,
    min_run: usize,
    f: impl Fn(T) -> U + Sync,
) -> Vec<U> {
    let threads = std::thread::available_parallelism()
        .map_or(1, NonZero::get)
        .min(8)
        .min(items.len() / min_run.max(1))
        .max(1);
    if threads == 1 {
        return items.into_iter().map(f).collect();
    }
    let per = items.len().div_ceil(threads);
    let mut runs = Vec::with_capacity(threads);
    let mut rest = items;
    while rest.len() > per {
        let tail = rest.split_off(per);
        runs.push(rest);
        rest = tail;
    }
    runs.push(rest);
    let f = &f;
    std::thread::scope(|scope| {
        let mut runs = runs.into_iter();
        let first = runs.next().expect("at least one run");
        let others: Vec<_> = runs
            .map(|run| scope.spawn(move || run.into_iter().map(f).collect::<Vec<U>>()))
            .collect();
        let mut out: Vec<U> = first.into_iter().map(f).collect();
        for other in others {
            out.extend(
                other
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            );
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use super::map_in_order;

    #[test]
    fn results_come_back_in_order_for_every_size() {
        for len in [0, 1, 2, 3, 31, 32, 33, 64, 65, 1000, 1001] {
            for min_run in [0, 1, 7, 32] {
                let items: Vec<u64> = (0..len).collect();
                let out = map_in_order(items, min_run, |i| i * 3 + 1);
                assert_eq!(
                    out,
                    (0..len).map(|i| i * 3 + 1).collect::<Vec<_>>(),
                    "{len} {min_run}"
                );
            }
        }
    }
}
