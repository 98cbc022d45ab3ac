/**
 * type-graphql builds an input object with `new Input()` and deletes each own field the
 * client left out; a delete turns the object into a dictionary in V8. The optional fields
 * are declared, not defined, so a fresh input has nothing to delete.
 */
import 'reflect-metadata';
import { ActivityInput, SetStatusInput } from '../../src/presence/presence.inputs';

describe('status inputs', () => {
  it('have no own optional fields until the client gives them', () => {
    expect(Object.keys(new SetStatusInput())).toEqual([]);
    expect(Object.keys(new ActivityInput())).not.toContain('url');
  });
});
