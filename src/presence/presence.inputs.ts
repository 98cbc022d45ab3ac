/** GraphQL input types of the presence contract. Absent fields stay undefined; explicit null stays null. */
import { Field, ID, InputType } from 'type-graphql';
import { ActivityType, DeviceType, StatusPreference } from './presence.model';

@InputType()
export class DeviceInput {
  @Field(() => ID) id!: string;
  @Field(() => DeviceType, { defaultValue: DeviceType.WEB }) type!: DeviceType;
  @Field(() => Boolean, { defaultValue: false, description: 'True when the user has been inactive on this device: the device shows AWAY.' })
  idle!: boolean;
}

/*
 * The optional fields below are declared, not defined, and their @Field decorators are
 * applied after the class (TypeScript takes no decorator on a `declare` field). type-graphql
 * builds an input as `new SetStatusInput()` and then deletes every own field the client
 * left out; with defined fields that delete turned the object into a dictionary on every
 * setStatus (V8 normalizes it: a property dictionary per call and slow reads after). A
 * declared field is no own property, so there is nothing to delete.
 */

@InputType()
export class ActivityInput {
  @Field(() => ActivityType) type!: ActivityType;
  @Field() name!: string;
  declare url?: string | null;
}
Field(() => String, { nullable: true })(ActivityInput.prototype, 'url');

@InputType({ description: 'Absent fields stay as they are; an explicit null clears customStatus or activity.' })
export class SetStatusInput {
  declare status?: StatusPreference | null;
  declare customStatus?: string | null;
  declare activity?: ActivityInput | null;
}
Field(() => StatusPreference, { nullable: true })(SetStatusInput.prototype, 'status');
Field(() => String, { nullable: true })(SetStatusInput.prototype, 'customStatus');
Field(() => ActivityInput, { nullable: true })(SetStatusInput.prototype, 'activity');
