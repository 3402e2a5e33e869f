import type { AugmentationSearch } from "./search";
import { DEFAULT_SEARCH, fastAutoAugmentLight, randomAugmentation, type SearchParameters } from "./fast-autoaugment-light";
import { noAugmentation } from "./none";

export type { AugmentationSearch, PolicyTrial, SearchContext, SearchOutcome } from "./search";
export { SEARCH_SPACE } from "./search-space";

export type StrategyName = "none" | "random" | "fast-autoaugment-light";

export function createSearch(strategy: StrategyName, parameters: Partial<SearchParameters> = {}): AugmentationSearch {
  const merged = { ...DEFAULT_SEARCH, ...parameters };
  switch (strategy) {
    case "none":
      return noAugmentation();
    case "random":
      return randomAugmentation(merged);
    case "fast-autoaugment-light":
      return fastAutoAugmentLight(merged);
  }
}
