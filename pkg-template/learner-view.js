// What every learner shows of itself, in this thread or through a worker (learner.js,
// worker-client.js): its head, labels, counts and whether it is trained, read from a frozen
// snapshot that its class keeps current.

/** `learner[takeState](state)`: the learner classes' way to replace the snapshot. */
export const takeState = Symbol("takeState");

export class LearnerView {
  #state;

  constructor(state) {
    this[takeState](state);
  }

  /** `"knn"` or `"linear"`. */
  get head() {
    return this.#state.head;
  }

  /** Class names, in the order of their first example. */
  get labels() {
    return this.#state.labels;
  }

  /** `{ label: examples }` for every class. */
  get counts() {
    return this.#state.counts;
  }

  /** Whether `classify` can answer: two classes or more, and the linear head trained on them. */
  get trained() {
    return this.#state.trained;
  }

  /** Freezes `state` and shows it from now on. */
  [takeState](state) {
    this.#state = Object.freeze(state);
    return this.#state;
  }
}
